/** Every simulator takes the standard faults by the same names through the same Simulator interface. */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { STANDARD_FAULTS, type Simulator } from '../src/daemon/api.js';
import { CryoconSimulator } from '../src/devices/cryocon/simulator.js';
import { JulaboSimulator } from '../src/devices/julabo/simulator.js';
import { ArbinSimulator } from '../src/devices/arbin/simulator.js';
import { ArchonSimulator } from '../src/devices/archon/simulator/index.js';
import { eventually } from '../src/testing/eventually.js';

interface TextSubject {
  name: string;
  create: () => Simulator;
  request: string;
  /** A reply as the unit sends it, and what line noise makes of it. */
  clean: RegExp;
}

const subjects: TextSubject[] = [
  { name: 'julabo', create: () => new JulaboSimulator({ byteTiming: false, noise: 0 }), request: 'version\r', clean: /^JULABO FL1703 V 1\.02\r\n$/ },
  { name: 'cryocon', create: () => new CryoconSimulator({ minGapMs: 0, byteTiming: false, noise: 0 }), request: '*IDN?\n', clean: /^Cryo-con,24C,204683,1\.01A\n$/ },
  { name: 'archon', create: () => new ArchonSimulator(), request: '>01SYSTEM\n', clean: /^<01BACKPLANE_TYPE=1 [^\n]* MOD12_ID=0{16}\n$/ },
];

describe('standard faults', () => {
  const open: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const f of open.splice(0).reverse()) await f();
  });

  async function start(create: () => Simulator) {
    const sim = create();
    open.push(() => sim.close());
    const port = await sim.listenTcp('127.0.0.1', 0);
    const socket = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.on('error', () => {});
    open.push(() => void socket.destroy());
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    return { sim, port, socket, text: () => text, reset: () => (text = '') };
  }

  for (const s of subjects) {
    it(`${s.name}: garble while on, silence, link drop, all through setFault and faults`, async () => {
      const c = await start(s.create);
      const { sim } = c;
      c.socket.write(s.request);
      await eventually(() => expect(c.text()).toMatch(s.clean));
      sim.setFault!('garble', true);
      expect(sim.faults).toEqual(['garble']);
      for (let i = 0; i < 2; i++) {
        c.reset();
        c.socket.write(s.request);
        await eventually(() => expect(c.text()).toMatch(/\n$/));
        expect(c.text()).not.toMatch(s.clean);
      }
      sim.setFault!('garble', false);
      sim.setFault!('silence', true);
      c.reset();
      c.socket.write(s.request);
      await new Promise((r) => setTimeout(r, 150));
      expect(c.text()).toBe('');
      sim.setFault!('silence', false);
      c.socket.write(s.request);
      await eventually(() => expect(c.text()).toMatch(s.clean));
      const closed = new Promise<void>((r) => c.socket.once('close', () => r()));
      sim.setFault!('linkDrop', true);
      await closed;
      expect(sim.faults).toEqual(['linkDrop']);
      sim.setFault!('linkDrop', false);
      expect(sim.faults).toEqual([]);
      expect(() => sim.setFault!('meltdown' as never, true)).toThrow(/unknown fault "meltdown"/);
    });
  }

  it('every family names the same standard faults', () => {
    for (const sim of [new JulaboSimulator(), new CryoconSimulator(), new ArbinSimulator({}, { env: {} }), new ArchonSimulator()] as Simulator[]) {
      for (const f of STANDARD_FAULTS) {
        sim.setFault!(f, true);
        expect(sim.faults).toContain(f);
        sim.setFault!(f, false);
      }
      expect(sim.faults).toEqual([]);
      void sim.close();
    }
  });
});
