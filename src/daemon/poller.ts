/**
 * Runs a device's poll plan: one timer per poll group, every group at once after a (re)connect,
 * which groups have not been read since, which are failing, and the instrument that went silent
 * behind an open link (a serial adapter stays open when the instrument is switched off; only
 * timeouts tell).
 */
import { LabwireError, type WireValue } from '../wire/types.js';
import { LinkError } from '../links/types.js';
import type { PollGroup } from './api.js';
import type { LogLevel } from './events.js';

/** This many polls in a row without a reply mark the device as away (hw_connected=0). */
export const SILENT_POLLS = 3;

export interface PollHost {
  /** The link is up: polls read only then. */
  readonly linkUp: boolean;
  read(group: PollGroup): Promise<Record<string, WireValue>>;
  /** A counter of writes; a poll remembers it when it starts (see DeviceRunner.writes). */
  writeCount(): number;
  /** Stores what a poll read, skipping parameters written since `writesBefore`. */
  merge(values: Record<string, WireValue>, writesBefore: number): void;
  /** The link is open but SILENT_POLLS polls in a row timed out. */
  deviceSilent(reason: string): void;
  /** A poll answered after the device was silent. */
  deviceAnswersAgain(): void;
  /** Which groups are unread or failing changed: derive the state again. */
  changed(): void;
  log(level: LogLevel, message: string): void;
}

export class Poller {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Poll groups not yet read since the link came up: until then the cache holds no current values. */
  readonly unread = new Set<string>();
  /** Groups whose latest read failed, with the message (insertion order: oldest failure first). */
  readonly errors = new Map<string, string>();
  private silentPolls = 0;
  private running = false;

  constructor(
    private readonly groups: readonly PollGroup[],
    private readonly host: PollHost,
  ) {}

  start(): void {
    this.running = true;
    this.pollAllNow();
  }

  stop(): void {
    this.running = false;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  /** After a (re)connect: nothing read so far is current, and the silence count starts again. */
  linkCameUp(): void {
    this.silentPolls = 0;
    for (const g of this.groups) this.unread.add(g.name);
  }

  /** Every group reads at once, so status is complete without waiting a slow period. */
  pollAllNow(): void {
    if (!this.running) return;
    for (const group of this.groups) this.schedule(group, 0);
  }

  private schedule(group: PollGroup, delay: number): void {
    const previous = this.timers.get(group.name);
    if (previous) clearTimeout(previous);
    const timer = setTimeout(() => void this.poll(group), delay);
    this.timers.set(group.name, timer);
  }

  private async poll(group: PollGroup): Promise<void> {
    const name = group.name;
    this.timers.delete(name);
    if (!this.running) return;
    const started = Date.now();
    const writesBefore = this.host.writeCount();
    if (this.host.linkUp) {
      try {
        this.host.merge(await this.host.read(group), writesBefore);
        if (this.silentPolls >= SILENT_POLLS) {
          // Everything read before the silence is stale: read every group again before idle.
          this.silentPolls = 0;
          for (const g of this.groups) if (g.name !== name) this.unread.add(g.name);
          this.host.deviceAnswersAgain();
          this.pollAllNow();
        }
        this.silentPolls = 0;
        if (this.unread.delete(name)) this.host.changed();
        if (this.errors.has(name)) {
          this.errors.delete(name);
          this.host.log('info', `polling ${name} recovered`);
          this.host.changed();
        }
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        const timedOut = (err instanceof LinkError || err instanceof LabwireError) && err.code === 'Timeout';
        this.silentPolls = timedOut ? this.silentPolls + 1 : 0;
        if (timedOut && this.silentPolls === SILENT_POLLS && this.host.linkUp) {
          this.host.deviceSilent(`the device does not answer (${SILENT_POLLS} polls in a row timed out; is it switched on and in remote mode?)`);
        }
        // A group that fails is no longer awaited; the failure shows as warn.
        this.unread.delete(name);
        // Log a failure once and its recovery once, not every tick.
        if (this.errors.get(name) !== message && this.host.linkUp) this.host.log('warning', `polling ${name} failed: ${message}`);
        this.errors.set(name, message);
        this.host.changed();
      }
    }
    // A reconnect during the read has already scheduled an immediate poll of this group.
    if (this.running && !this.timers.has(name)) this.schedule(group, Math.max(0, group.everyMs - (Date.now() - started)));
  }
}
