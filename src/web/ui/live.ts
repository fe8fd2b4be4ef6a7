/// <reference lib="dom" />
/**
 * The live state of the lab on the page, fed by Server-Sent Events from /api/stream. Updates are
 * applied at once to the data and announced to the view at most once per animation frame, so
 * hundreds of updates a second cost one render per frame.
 */
import { useEffect, useState } from 'preact/hooks';
import type { LogEntry } from '../../archive/types.js';
import type { AlarmState, MonitorUpdate } from '../../monitor/types.js';
import type { AlarmEvent, DeviceView, Snapshot } from '../views.js';
import { api, notifyUnauthorized } from './api.js';
import type { ImageRecord } from './images-api.js';

export const MAX_MESSAGES = 500;

export interface LiveState {
  /** The stream is open. */
  online: boolean;
  /** A snapshot has arrived at least once. */
  ready: boolean;
  monitor: string;
  readOnly: boolean;
  devices: DeviceView[];
  /** Newest last. */
  messages: LogEntry[];
  /** Events the server dropped because this page read too slowly. */
  dropped: number;
  /** Every configured alarm with its state. */
  alarms: AlarmState[];
}

type UpdateListener = (u: MonitorUpdate) => void;
type AlarmListener = (e: AlarmEvent) => void;
type ImageListener = (image: ImageRecord) => void;
type SnapshotListener = () => void;

export class Live {
  state: LiveState = { online: false, ready: false, monitor: '', readOnly: false, devices: [], messages: [], dropped: 0, alarms: [] };
  private readonly listeners = new Set<() => void>();
  private readonly updateListeners = new Set<UpdateListener>();
  private readonly alarmListeners = new Set<AlarmListener>();
  private readonly imageListeners = new Set<ImageListener>();
  private readonly snapshotListeners = new Set<SnapshotListener>();
  private source: EventSource | undefined;
  private frame = 0;
  private retry: ReturnType<typeof setTimeout> | undefined;

  start(): void {
    if (this.source) return;
    const es = new EventSource('/api/stream');
    this.source = es;
    es.addEventListener('open', () => this.set({ online: true }));
    es.addEventListener('error', () => {
      this.set({ online: false });
      // The browser retries by itself unless the answer was not a stream (e.g. 401 after the
      // session expired): then check the session and either log in again or retry later.
      if (es.readyState !== EventSource.CLOSED || this.source !== es) return;
      this.source = undefined;
      api<{ role: string | null }>('/api/session')
        .then((s) => {
          if (s.role === null) notifyUnauthorized();
          else this.retry = setTimeout(() => this.start(), 3000);
        })
        .catch(() => {
          this.retry = setTimeout(() => this.start(), 3000);
        });
    });
    es.addEventListener('snapshot', (e) => {
      const s = JSON.parse((e as MessageEvent<string>).data) as Snapshot;
      this.set({ online: true, ready: true, monitor: s.monitor, readOnly: s.readOnly, devices: s.devices, messages: s.messages.slice(-MAX_MESSAGES), alarms: s.alarms ?? [] });
      for (const l of this.snapshotListeners) l();
    });
    es.addEventListener('update', (e) => {
      const u = JSON.parse((e as MessageEvent<string>).data) as MonitorUpdate;
      this.applyUpdate(u);
      for (const l of this.updateListeners) l(u);
    });
    es.addEventListener('peer', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data) as DeviceView;
      const i = this.state.devices.findIndex((x) => x.name === d.name);
      const devices = [...this.state.devices];
      if (i >= 0) devices[i] = d;
      else devices.push(d);
      this.set({ devices });
    });
    es.addEventListener('alarm', (e) => {
      const ev = JSON.parse((e as MessageEvent<string>).data) as AlarmEvent;
      const alarms = [...this.state.alarms];
      const i = alarms.findIndex((a) => a.id === ev.state.id);
      if (i >= 0) alarms[i] = ev.state;
      else alarms.push(ev.state);
      this.set({ alarms });
      for (const l of this.alarmListeners) l(ev);
    });
    es.addEventListener('image', (e) => {
      const image = JSON.parse((e as MessageEvent<string>).data) as ImageRecord;
      for (const l of this.imageListeners) l(image);
    });
    es.addEventListener('message', (e) => {
      const m = JSON.parse((e as MessageEvent<string>).data) as LogEntry;
      const messages = this.state.messages.length >= MAX_MESSAGES ? this.state.messages.slice(1 - MAX_MESSAGES) : [...this.state.messages];
      messages.push(m);
      this.set({ messages });
    });
    es.addEventListener('dropped', (e) => {
      const d = JSON.parse((e as MessageEvent<string>).data) as { count: number };
      this.set({ dropped: this.state.dropped + d.count });
    });
  }

  stop(): void {
    clearTimeout(this.retry);
    this.source?.close();
    this.source = undefined;
    this.set({ online: false });
  }

  private applyUpdate(u: MonitorUpdate): void {
    const i = this.state.devices.findIndex((x) => x.name === u.client);
    if (i < 0) return;
    const old = this.state.devices[i]!;
    const values = { ...old.values, ...u.values };
    const ts = { ...old.ts };
    for (const k of Object.keys(u.values)) ts[k] = u.t;
    const d: DeviceView = { ...old, values, ts };
    if ('state' in u.values) d.state = u.values.state === null || u.values.state === undefined ? null : String(u.values.state);
    if ('state_text' in u.values) d.stateText = u.values.state_text === null || u.values.state_text === undefined ? null : String(u.values.state_text);
    const devices = [...this.state.devices];
    devices[i] = d;
    this.set({ devices });
  }

  private set(patch: Partial<LiveState>): void {
    this.state = { ...this.state, ...patch };
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      for (const l of this.listeners) l();
    });
  }

  subscribe(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Every alarm change as it arrives (browser notifications, the history table). */
  onAlarm(cb: AlarmListener): () => void {
    this.alarmListeners.add(cb);
    return () => this.alarmListeners.delete(cb);
  }

  /**
   * Every snapshot: the first one and each after the stream reconnected, when events sent while
   * it was down are lost (the images panels read their lists again).
   */
  onSnapshot(cb: SnapshotListener): () => void {
    this.snapshotListeners.add(cb);
    return () => this.snapshotListeners.delete(cb);
  }

  /** Every new image the monitor indexed (the images panels load it). */
  onImage(cb: ImageListener): () => void {
    this.imageListeners.add(cb);
    return () => this.imageListeners.delete(cb);
  }

  /** Every update as it arrives (plots append points). */
  onUpdate(cb: UpdateListener): () => void {
    this.updateListeners.add(cb);
    return () => this.updateListeners.delete(cb);
  }
}

export const live = new Live();

export function useLive(): LiveState {
  const [state, setState] = useState(live.state);
  useEffect(() => {
    setState(live.state);
    return live.subscribe(() => setState(live.state));
  }, []);
  return state;
}
