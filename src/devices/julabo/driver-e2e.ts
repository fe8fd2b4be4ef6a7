/**
 * The end-to-end suite shared by driver.tcp.test.ts and driver.pty.test.ts: the driver talks to
 * the simulator through the real Exchange over a real TCP socket or a real pseudo-terminal, with
 * the manual's pacing and the simulator's 4800-baud byte timing. Test-only.
 */
import { afterEach, expect, it } from 'vitest';
import { LinkError, type ExchangeOptions } from '../../links/index.js';
import { nextEvent, simExchange, type Transport } from '../../testing/sim-exchange.js';
import { LabwireError } from '../../wire/types.js';
import { JulaboDriver, julaboExchangeOptions, julaboSplitter } from './driver.js';
import { JulaboSimulator, SIMULATED_VERSION, type JulaboSimulatorOptions } from './simulator.js';

export function driverEndToEnd(transport: Transport): void {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  async function setup(simOptions: JulaboSimulatorOptions = {}, exchangeOptions: ExchangeOptions = {}) {
    const sim = new JulaboSimulator({ byteTiming: true, seed: 5, ...simOptions });
    cleanup.push(() => sim.close());
    const exchange = await simExchange(sim, transport, julaboSplitter(), { ...julaboExchangeOptions, baudRate: 4800, ...exchangeOptions });
    cleanup.push(() => exchange.stop());
    return { sim, exchange, driver: new JulaboDriver(exchange) };
  }

  it('runs a session at the manual pacing, with writes confirmed and refusals explained', async () => {
    const { sim, driver } = await setup({ initialTemperature: 20, timeScale: 60 });
    expect(await driver.version()).toBe(SIMULATED_VERSION);
    expect(await driver.status()).toEqual({ code: 2, text: 'REMOTE STOP', error: false });
    expect(Math.abs((await driver.temperature()) - 20)).toBeLessThan(0.1);
    expect(await driver.setSetpoint(10)).toBe(10);
    expect(await driver.start()).toBe(true);
    expect(await driver.status()).toMatchObject({ code: 3, text: 'REMOTE START' });
    const refused = await driver.setSetpoint(55).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(LabwireError);
    expect((refused as LabwireError).message).toBe('chiller refused setpoint 55: -11 VALUE TOO LARGE');
    expect(await driver.setpoint()).toBe(10);
    expect(await driver.sendRaw('status')).toBe('03 REMOTE START');
    expect(await driver.stop()).toBe(false);
    expect(sim.running).toBe(false);
    // The Exchange kept the manual's 250 ms between commands, as the simulated unit saw them. A
    // loaded machine may deliver one write late and the next on time, so a few gaps may look
    // short; the predecessor's 100 ms would make all 14 short. (The exact pacing is proven under a
    // fake clock in links/exchange-clock.test.ts.)
    expect(sim.stats.requests).toBe(15);
    expect(sim.stats.gapViolations).toBeLessThanOrEqual(6);
  });

  it('follows the bath as it cools in scaled time', async () => {
    const { driver } = await setup({ initialTemperature: 20, timeScale: 3000, noise: 0.01 }, { minGapMs: 20 });
    await driver.setSetpoint(10);
    // Read before the start: on a loaded machine the first read after it may already find 10 °C.
    const start = await driver.temperature();
    await driver.start();
    let reading = await driver.temperature();
    for (let i = 0; i < 200 && Math.abs(reading - 10) > 0.1; i++) reading = await driver.temperature();
    expect(start).toBeGreaterThan(15);
    expect(Math.abs(reading - 10)).toBeLessThanOrEqual(0.1);
  });

  it('discards a late reply that arrives during the resync quiet period', async () => {
    const { sim, driver } = await setup({ noise: 0 }, { minGapMs: 20, timeoutMs: 150, resyncQuietMs: 400 });
    sim.setLatency(300);
    await expect(driver.version()).rejects.toMatchObject({ name: 'LinkError', code: 'Timeout' });
    sim.setLatency(2);
    expect(await driver.setpoint()).toBe(25);
    expect(await driver.version()).toBe(SIMULATED_VERSION);
  });

  it('never takes a reply later than the resync silence as the answer: the resync probe absorbs it', async () => {
    const { sim, exchange, driver } = await setup({ noise: 0 }, { minGapMs: 20, timeoutMs: 150, resyncQuietMs: 100 });
    const strays: string[] = [];
    exchange.on('stray', (b) => strays.push(b.toString('latin1')));
    sim.setLatency(300);
    await expect(driver.version()).rejects.toMatchObject({ name: 'LinkError', code: 'Timeout' });
    sim.setLatency(2);
    // The late version string arrives after the silence, while the resync probe waits: whether it
    // passes for the probe's answer or not, in_sp_00 is sent only once every earlier reply is in.
    expect(await driver.setpoint()).toBe(25);
    expect(await driver.isRunning()).toBe(false);
    expect(await driver.setpoint()).toBe(25);
    // The second copy of the version (the probe's own answer) came unasked and was discarded.
    expect(strays.join('')).toContain('V 1.02');
  });

  it('fails fast while the unit is silent and recovers when it answers again', async () => {
    const { sim, exchange, driver } = await setup({ noise: 0 }, { minGapMs: 20, timeoutMs: 200, resyncQuietMs: 50 });
    sim.setFault('linkDrop', true);
    const err = await driver.temperature().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LinkError);
    expect(['CommunicationFailed', 'Timeout']).toContain((err as LinkError).code);
    if (transport === 'tcp') {
      // A dropped TCP connection takes the exchange down; it comes back by itself.
      const up = nextEvent(exchange, 'up', 3000);
      sim.setFault('linkDrop', false);
      await up;
    } else {
      sim.setFault('linkDrop', false);
    }
    expect(await driver.temperature()).toBe(22);
  });
}
