/**
 * The device conformance suite (DESIGN.md §8): one set of tests that every device family's
 * driver + simulator pair must pass through the real daemon over real TCP — connect, identify,
 * read every parameter, set within and outside limits, survive a dropped link, resynchronise
 * after a garbled reply, and never take a late reply for the answer to a later request (the
 * delaying-proxy scenario with a fixed seed). A family adds one small file that calls
 * `deviceConformance(subject)`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDaemon, type Daemon } from '../../daemon/daemon.js';
import type { DeviceFamily, Simulator, SimulatorOptions } from '../../daemon/api.js';
import { resolveDevice } from '../../daemon/resolved-device.js';
import type { LinkSpec } from '../../links/types.js';
import type { DescribeDoc } from '../../wire/types.js';
import { silentLogger } from '../../util/logger.js';
import { RawClient } from '../raw-client.js';
import { eventually } from '../eventually.js';
import { kv } from '../status-lines.js';
import { delaysAround, runLateReplyScenario, type LateReplySubject } from './late-replies.js';

export interface ConformanceSubject<S extends Simulator> {
  family: DeviceFamily;
  /** Fast settings: no byte timing, a sped-up clock, no noise where possible. */
  simulatorOptions: SimulatorOptions;
  createSimulator(options: SimulatorOptions): S;
  /** Device options for the daemon. */
  deviceOptions?: Record<string, unknown>;
  /**
   * A writable numeric parameter, a value inside its limits and one outside. Families without one
   * (Arbin CTI: nothing numeric can be written and read back) leave it out.
   */
  write?: { param: string; valid: number; outOfRange: number; limitMessage: RegExp };
  /** A polled parameter whose timestamp proves polling goes on. */
  freshParam: string;
  /** A state-changing request that must fail fast while the link is down. */
  whileDown: string;
  /** Parameters that may legitimately read as missing (nan) on a healthy simulator. */
  mayBeMissing?: string[];
  /** Cut the device's link until restored (TCP closed / silence). */
  dropLink(sim: S): void;
  restoreLink(sim: S): void;
  /** Corrupt the next few replies on the wire. */
  garbleReplies(sim: S, n: number): void;
  /** How long a full refresh of every parameter may take (poll periods plus pacing). */
  refreshMs: number;
  /** The daemon's link to what `listenTcp` served; default `tcp://127.0.0.1:<port>`. */
  link?: (simPort: number) => LinkSpec;
  /**
   * The family on the wire for the delaying-proxy scenario: how its requests are cut, which are
   * answered, which published values a reply carries, fast pacing. Every family on a byte link
   * must pass it; a family behind a bus that pairs every reply with its request names why it
   * cannot get a late reply instead (`{ notApplicable: '…' }`), and the bus's own tests prove that.
   */
  lateReplies: ((seed: number) => LateReplySubject) | { notApplicable: string };
}

/** The fixed seed of the conformance run of the delaying-proxy scenario. */
const LATE_REPLY_SEED = 20_260_101;

export function deviceConformance<S extends Simulator>(subject: ConformanceSubject<S>): void {
  const type = subject.family.definition.type;

  describe(`conformance: ${type}`, () => {
    let sim: S;
    let simPort: number;
    let daemon: Daemon;
    let c: RawClient;
    const status = async (): Promise<Record<string, string>> => kv(await c.request('get_status'));

    beforeAll(async () => {
      sim = subject.createSimulator(subject.simulatorOptions);
      simPort = await sim.listenTcp('127.0.0.1', 0);
      daemon = await startDaemon({
        definition: subject.family.definition,
        options: subject.deviceOptions,
        link: subject.link?.(simPort) ?? { kind: 'tcp', host: '127.0.0.1', port: simPort },
        name: `conf-${type}`,
        port: 0,
        logger: silentLogger(),
        version: 'conformance',
      });
      c = await RawClient.connect(daemon.port);
    });

    afterAll(async () => {
      c.close();
      await daemon.close();
      await sim.close();
    });

    it('connects and identifies', async () => {
      await eventually(async () => expect((await status()).hw_connected).toBe('1'), subject.refreshMs);
      expect(await c.request('get_id')).toMatch(new RegExp(`^id name=conf-${type} type=${type} protocol=labwire/1 `));
    });

    it('describes every parameter with a type and a description', async () => {
      const doc = JSON.parse((await c.request('describe')).slice('describe '.length)) as DescribeDoc;
      expect(doc.type).toBe(type);
      for (const [name, p] of Object.entries(doc.params)) {
        expect(['float', 'int', 'bool', 'enum', 'string'], name).toContain(p.type);
        expect(p.description.length, `${name} has a description`).toBeGreaterThan(3);
      }
      if (subject.write) expect(doc.params[subject.write.param]?.readonly).toBe(false);
      for (const [name, cmd] of Object.entries(doc.commands)) {
        for (const [arg, d] of Object.entries(cmd.args)) expect(d.description.length, `${name} ${arg} has a description`).toBeGreaterThan(3);
      }
    });

    it('reads every parameter', async () => {
      const declared = Object.keys(resolveDevice(subject.family.definition, { options: subject.deviceOptions }).params);
      expect(declared.length).toBeGreaterThan(0);
      await eventually(async () => {
        const s = await status();
        const doc = JSON.parse((await c.request('get_status format=json')).slice('status_json '.length)) as { values: Record<string, unknown> };
        const missing = declared.filter((p) => !(subject.mayBeMissing ?? []).includes(p) && (doc.values[p] === undefined || doc.values[p] === null));
        expect(missing, 'parameters without a reading').toEqual([]);
        expect(s.state).not.toBe('busy');
      }, subject.refreshMs);
    });

    it.skipIf(!subject.write)('sets a value within limits and refuses one outside, naming the limit', async () => {
      const { param, valid, outOfRange, limitMessage } = subject.write!;
      expect(await c.request(`set ${param}=${valid}`, 15_000)).toBe(`ok set ${param}=${valid}`);
      await eventually(async () => expect(Number((await status())[param])).toBeCloseTo(valid, 6), subject.refreshMs);
      const refused = await c.request(`set ${param}=${outOfRange}`);
      expect(refused).toMatch(new RegExp(`^error set code=RangeError message=`));
      expect(refused).toMatch(limitMessage);
      expect(Number((await status())[param])).toBeCloseTo(valid, 6);
    });

    it('resynchronises after garbled replies and keeps polling', async () => {
      const before = (await status())[subject.freshParam];
      const watcher = await RawClient.connect(daemon.port);
      expect(await watcher.request('subscribe hw_connected')).toBe('ok subscribe');
      subject.garbleReplies(sim, 3);
      // The garbage was seen (a poll failed) and the daemon recovered on its own.
      await watcher.waitLine((l) => /^log t=\d+ level=warning message="polling \w+ failed/.test(l), subject.refreshMs * 2);
      await watcher.waitLine((l) => /^log t=\d+ level=info message="polling \w+ recovered/.test(l), subject.refreshMs * 2);
      watcher.close();
      // Afterwards the daemon is connected, answers, and its values are fresh again.
      await new Promise((r) => setTimeout(r, 500));
      await eventually(async () => {
        const s = await status();
        expect(s.hw_connected).toBe('1');
        expect(s[subject.freshParam]).toBe(before);
      }, subject.refreshMs * 2);
      const t0 = Date.now();
      await eventually(async () => {
        const doc = JSON.parse((await c.request('get_status format=json')).slice(12)) as { ts: Record<string, number> };
        expect(doc.ts[subject.freshParam]).toBeGreaterThan(t0);
      }, subject.refreshMs * 2);
    });

    const lateSubject = subject.lateReplies;
    it.skipIf(typeof lateSubject !== 'function')(`never publishes a late reply as a later answer: delaying proxy, fixed seed${typeof lateSubject === 'function' ? '' : ` (not applicable: ${lateSubject.notApplicable})`}`, async () => {
      if (typeof lateSubject !== 'function') return;
      const late = lateSubject(LATE_REPLY_SEED);
      const report = await runLateReplyScenario(late, {
        seed: LATE_REPLY_SEED,
        requests: 200,
        delay: delaysAround(late.exchange.timeoutMs ?? 100, 0.15),
        setEveryMs: 150,
        deadlineMs: 60_000,
      });
      expect(report.requests).toBeGreaterThanOrEqual(200);
      expect(report.lateReplies, 'replies held back beyond the timeout').toBeGreaterThan(0);
      expect(report.wrongPairs.slice(0, 5)).toEqual([]);
      expect(report.wrongValues.slice(0, 5)).toEqual([]);
      expect(report.wrongSets.slice(0, 5)).toEqual([]);
      if (late.set) expect(report.sets.ok, 'sets confirmed').toBeGreaterThan(0);
    }, 90_000);

    it('survives a dropped link: hw_connected=0 and state=error while away, back by itself', async () => {
      subject.dropLink(sim);
      await eventually(async () => {
        const s = await status();
        expect(s.hw_connected).toBe('0');
        expect(s.state).toBe('error');
      }, 20_000);
      const command = subject.whileDown.split(' ', 1)[0]!;
      expect(await c.request(subject.whileDown)).toMatch(new RegExp(`^error ${command} code=CommunicationFailed`));
      subject.restoreLink(sim);
      await eventually(async () => expect((await status()).hw_connected).toBe('1'), 30_000);
      await eventually(async () => expect((await status()).state).not.toBe('busy'), subject.refreshMs);
    }, 60_000);
  });
}
