/**
 * The shared device conformance suite against the Arbin family. Arbin CTI has no numeric value
 * that can be written and read back (SET_MV_VALUE is a command whose value GET_CHANNELS_INFO never
 * reports), so the suite's write case does not apply; the rest runs as for every family. Below,
 * checks specific to Arbin: the re-login after a dropped link.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arbinFamily } from '../../src/devices/arbin/device.js';
import { createArbinSimulator, type ArbinSimulator } from '../../src/devices/arbin/simulator.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import type { DescribeDoc, StatusDoc } from '../../src/wire/types.js';
import { silentLogger } from '../../src/util/logger.js';
import { RawClient } from '../../src/testing/raw-client.js';
import { eventually } from '../helpers/julabo-lab.js';
import { deviceConformance, type ConformanceSubject } from '../../src/testing/conformance/suite.js';
import { arbinLateReplies } from './late-reply-subjects.js';

const CREDS = { username: 'conformance', password: 'not-a-real-password' };

function secretsFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arbin-conf-'));
  const file = path.join(dir, 'cti.env');
  fs.writeFileSync(file, `ARBIN_CTI_USERNAME=${CREDS.username}\nARBIN_CTI_PASSWORD=${CREDS.password}\n`, { mode: 0o600 });
  return file;
}


const secrets = secretsFile();

const subject: ConformanceSubject<ArbinSimulator> = {
  family: arbinFamily,
  simulatorOptions: { ...CREDS, noise: 0, timeScale: 10 },
  createSimulator: (o) => createArbinSimulator(o),
  deviceOptions: { secretsFile: secrets },
  freshParam: 'channel_count',
  whileDown: 'stop channel=1',
  dropLink: (sim) => sim.setFault('linkDrop', true),
  restoreLink: (sim) => sim.setFault('linkDrop', false),
  garbleReplies: (sim, n) => sim.garbleNextReplies(n),
  refreshMs: 8000,
  lateReplies: (seed) => arbinLateReplies(seed, secrets, CREDS),
};

deviceConformance<ArbinSimulator>(subject);

describe('conformance: arbin specifics', () => {
  let sim: ArbinSimulator;
  let daemon: Daemon;
  let c: RawClient;
  const json = async (): Promise<StatusDoc> => JSON.parse((await c.request('get_status format=json')).slice('status_json '.length)) as StatusDoc;

  beforeAll(async () => {
    sim = subject.createSimulator(subject.simulatorOptions);
    const simPort = await sim.listenTcp('127.0.0.1', 0);
    daemon = await startDaemon({
      definition: arbinFamily.definition,
      options: subject.deviceOptions,
      link: { kind: 'tcp', host: '127.0.0.1', port: simPort },
      name: 'conf-arbin-extra',
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

  it('every parameter is read-only, and units of dotted names are reported', async () => {
    const doc = JSON.parse((await c.request('describe')).slice('describe '.length)) as DescribeDoc;
    for (const [name, p] of Object.entries(doc.params)) expect(p.readonly, `${name} is read-only`).toBe(true);
    await eventually(async () => expect((await json()).units['ch3.voltage']).toBe('V'), subject.refreshMs);
  });

  it('survives a dropped link: hw_connected=0 and state=error while away, a command fails fast, back by itself and logged in again', async () => {
    await eventually(async () => expect((await json()).values.hw_connected).toBe(true), subject.refreshMs);
    const logins = sim.stats.logins;
    sim.setFault('linkDrop', true);
    await eventually(async () => {
      const v = (await json()).values;
      expect(v.hw_connected).toBe(false);
      expect(v.state).toBe('error');
    }, 20_000);
    expect(await c.request('stop channel=1')).toMatch(/^error stop code=CommunicationFailed/);
    sim.setFault('linkDrop', false);
    await eventually(async () => expect((await json()).values.hw_connected).toBe(true), 30_000);
    await eventually(async () => expect((await json()).values.state).not.toBe('busy'), subject.refreshMs);
    expect(sim.stats.logins).toBe(logins + 1);
  }, 60_000);
});
