/**
 * The end-to-end suite shared by driver.tcp.test.ts and driver.pty.test.ts: the driver talks to the
 * simulator through the real Exchange over a real TCP socket or a real pseudo-terminal. The
 * simulator counts every request that arrives less than 100 ms after the previous one (the
 * hardware would lose it), so a driver that sent requests too close together fails here. Test-only.
 */
import { afterEach, expect, it } from 'vitest';
import type { ExchangeOptions } from '../../links/index.js';
import { nextEvent, simExchange, type Transport } from '../../testing/sim-exchange.js';
import { eventually } from '../../testing/eventually.js';
import { CryoconDriver, cryoconExchangeOptions, cryoconSplitter } from './driver.js';
import { CryoconSimulator, type CryoconSimulatorOptions } from './simulator.js';

export function driverEndToEnd(transport: Transport): void {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function setup(simOptions: CryoconSimulatorOptions = {}, exchangeOptions: ExchangeOptions = {}) {
    const sim = new CryoconSimulator({ noise: 0, earlyRequests: 'delay', ...simOptions });
    cleanup.push(() => sim.close());
    const exchange = await simExchange(sim, transport, cryoconSplitter(), { ...cryoconExchangeOptions, ...exchangeOptions });
    cleanup.push(() => exchange.stop());
    return { sim, exchange, driver: new CryoconDriver(exchange) };
  }

  it('runs a session: identity, full read, polls, confirmed writes, never two requests within 100 ms', async () => {
    const { sim, driver } = await setup({ timeScale: 60 });
    expect((await driver.identify()).model).toBe('24C');
    const all = await driver.readEverything();
    expect(all.loops[1]).toMatchObject({ type: 'PID', setpoint: 300, source: 'A' });
    const polls = await Promise.all([driver.pollCycle(), driver.pollCycle(), driver.pollCycle()]);
    expect(polls.every((p) => p.channels.A?.sensor === 'ok')).toBe(true);
    expect(await driver.setSetpoint(1, 250)).toBe(250);
    expect(await driver.setGain(1, 'P', 12)).toBe(12);
    await expect(driver.setGain(1, 'P', 1200)).rejects.toMatchObject({ code: 'HardwareError', message: expect.stringMatching(/refused P gain 1200/) });
    expect(await driver.setControl(false)).toBe(false);
    expect(sim.loop(1)).toMatchObject({ setpoint: 250, pgain: 12 });
    expect(sim.control).toBe(false);
    // The driver kept 120 ms between requests. Simulator and driver share this process, so on a
    // loaded machine one write can be read late and the next on time and look early; a driver
    // without the gap would make nearly all of them early. (The exact pacing is proven under a
    // fake clock in links/exchange-clock.test.ts.)
    expect(sim.stats.requests).toBeGreaterThan(10);
    expect(sim.stats.earlyRequests).toBeLessThanOrEqual(Math.floor(sim.stats.requests / 4));
    expect(sim.stats.longestRequest).toBeLessThan(255);
  });

  it('fails fast while the controller is away and recovers when it is back', async () => {
    // A pseudo-terminal at 9600 baud needs ~0.3 s for one poll cycle: 1.5 s leaves a busy machine room.
    const { sim, exchange, driver } = await setup({}, { timeoutMs: 1500, resyncQuietMs: 50 });
    expect((await driver.pollCycle()).control).toBe(true);
    const down = transport === 'tcp' ? nextEvent(exchange, 'down', 3000) : Promise.resolve();
    sim.setFault('linkDrop', true);
    await expect(driver.pollCycle()).rejects.toMatchObject({ name: 'LinkError' });
    await down;
    const up = transport === 'tcp' ? nextEvent(exchange, 'up', 3000) : Promise.resolve();
    sim.setFault('linkDrop', false);
    await up;
    // The first cycle after the return may meet the link still resynchronising: it comes back by itself.
    await eventually(async () => expect((await driver.pollCycle()).channels.A?.temperature).toBeCloseTo(300, 1), 20_000);
  });

  it('resynchronises after line noise and takes the next reply for the next request', async () => {
    const { sim, driver } = await setup({}, { resyncQuietMs: 50 });
    sim.garbleNextReplies(1);
    await expect(driver.pollCycle()).rejects.toMatchObject({ code: 'CommunicationFailed' });
    expect(await driver.isControlOn()).toBe(true);
    expect((await driver.temperature('A')).kelvin).toBeCloseTo(300, 1);
  });
}
