import { afterEach, describe, expect, it, vi } from 'vitest';
import { Exchange } from '../../links/exchange.js';
import { lineSplitter } from '../../links/splitters.js';
import { MemoryLink } from '../../testing/fake-devices.js';
import { LinkError, type ExchangeLike } from '../../links/types.js';
import { MAX_LINE_CHARS } from './codec.js';
import { CryoconDriver, cryoconExchangeOptions, cryoconSplitter, CRYOCON_SERIAL_DEFAULTS, isIdentityReply } from './driver.js';
import { CryoconSimulator, type CryoconSimulatorOptions } from './simulator.js';
import { simExchange } from './test-helpers.js';

function setup(options: CryoconSimulatorOptions = {}, driverOptions: ConstructorParameters<typeof CryoconDriver>[1] = {}) {
  const sim = new CryoconSimulator({ noise: 0, ...options }, { now: () => 0 });
  const exchange = simExchange(sim);
  return { sim, exchange, driver: new CryoconDriver(exchange, driverOptions) };
}

/** An exchange that answers every request with the given lines in turn. */
function scripted(...replies: string[]): ExchangeLike & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    isUp: true,
    async request(data, opts) {
      const line = data.toString().replace(/\n$/, '');
      lines.push(line);
      const reply = replies.shift();
      if (reply === undefined) throw new LinkError('Timeout', 'no reply');
      const buf = Buffer.from(reply);
      try {
        if (opts?.validate && !opts.validate(buf)) throw new Error('invalid');
      } catch (err) {
        throw new LinkError('CommunicationFailed', `unexpected reply "${reply}": ${(err as Error).message}`);
      }
      return buf;
    },
  };
}

describe('link settings', () => {
  it('keeps more than 100 ms between requests and uses 9600 8N1 on serial', () => {
    expect(cryoconExchangeOptions.minGapMs).toBeGreaterThanOrEqual(100);
    expect(CRYOCON_SERIAL_DEFAULTS).toEqual({ baudRate: 9600, dataBits: 8, parity: 'none', stopBits: 1, rtscts: false });
    const split = cryoconSplitter();
    expect(split.push(Buffer.from('ON\r\n\nK;--\n')).map(String)).toEqual(['ON', 'K;--']);
  });
});

describe('the status poll', () => {
  it('costs one request of at most 255 characters per cycle and covers every setting in a rotation', async () => {
    const { driver, exchange } = setup();
    const cycles = driver.cyclesPerRotation;
    expect(cycles).toBeLessThanOrEqual(8);
    const seen = { channels: new Set<string>(), loops: new Set<string>(), control: false, systemName: false };
    for (let i = 0; i < cycles; i++) {
      const r = await driver.pollCycle();
      expect(exchange.lines).toHaveLength(i + 1);
      expect(exchange.lines[i]!.length + 1).toBeLessThanOrEqual(MAX_LINE_CHARS);
      for (const [c, ch] of Object.entries(r.channels)) for (const k of Object.keys(ch)) seen.channels.add(`${c}.${k}`);
      for (const [n, lp] of Object.entries(r.loops)) for (const k of Object.keys(lp)) seen.loops.add(`${n}.${k}`);
      if (r.control !== undefined) seen.control = true;
      if (r.systemName !== undefined) seen.systemName = true;
    }
    expect(seen.channels.size).toBe(4 * 11);
    expect(seen.loops.size).toBe(4 * 13);
    expect(seen).toMatchObject({ control: true, systemName: true });
    // Every cycle carries every reading and output.
    expect(exchange.lines.every((l) => l.startsWith(':INP A:TEMP?;UNIT?;:INP B:TEMP?;UNIT?;:INP C:TEMP?;UNIT?;:INP D:TEMP?;UNIT?;:CONT?;:LOOP 1:OUTP?;HTRR?;ERR?'))).toBe(true);
  });

  it('reads everything in as few 255-character lines as fit', async () => {
    const { driver, exchange } = setup();
    const r = await driver.readEverything();
    expect(exchange.lines.length).toBeLessThanOrEqual(3);
    for (const l of exchange.lines) expect(l.length + 1).toBeLessThanOrEqual(MAX_LINE_CHARS);
    expect(r.control).toBe(true);
    expect(r.systemName).toBe('labwire sim');
    expect(r.channels.A).toEqual({
      temperature: 300,
      sensor: 'ok',
      reading: 300,
      units: 'K',
      alarm: 'none',
      name: 'Stage',
      minimum: 300,
      maximum: 300,
      variance: 0,
      slope: 0,
      offset: 300,
    });
    expect(r.loops[1]).toEqual({
      source: 'A',
      setpoint: 300,
      type: 'PID',
      range: 'HI',
      rate: 10,
      pgain: 10,
      igain: 60,
      dgain: 0,
      pman: 0,
      output: 0,
      heater: 0,
      heaterStatus: '--Htr OK--',
      temperature: 300,
    });
    expect(r.loops[3]).toMatchObject({ range: '10V', type: 'OFF', source: 'C' });
    expect(r.refused).toEqual([]);
  });

  it('reports kelvin whatever the front panel shows, and no number for sensor units', async () => {
    const { sim, driver } = setup({ channels: { A: { units: 'C' }, B: { units: 'F' }, C: { units: 'S' } }, loops: { '1': { setpoint: 77, rate: 9 } } });
    sim.handleLine(':INP D:UNIT C');
    const r = await driver.readEverything();
    expect(r.channels.A).toMatchObject({ temperature: 300, reading: 26.85, units: 'C', sensor: 'ok', minimum: 300 });
    expect(r.channels.B).toMatchObject({ temperature: 300, reading: 80.33, units: 'F', sensor: 'ok' });
    expect(r.channels.C).toMatchObject({ temperature: null, reading: 0.52, units: 'S', sensor: 'sensor_units', minimum: null });
    // Loop 1 regulates on A (°C): its setpoint comes back as -196.150C, its rate in °C/min.
    expect(r.loops[1]).toMatchObject({ setpoint: 77, rate: 9, temperature: 300 });
    // Loop 3 regulates on C (sensor units): no kelvin for it either.
    expect(r.loops[3]).toMatchObject({ setpoint: null, temperature: null });
    sim.handleLine(':INP A:UNIT F;:LOOP 1:RATE 9');
    expect((await driver.readLoop(1))).toMatchObject({ setpoint: 77, rate: 5 });
  });

  it('shows a sensor going to ------- as a missing value with its reason, never the last number', async () => {
    const { sim, driver } = setup();
    expect((await driver.pollCycle()).channels.A).toMatchObject({ temperature: 300, sensor: 'ok' });
    sim.setSensor('A', 'fault');
    const r = await driver.pollCycle();
    expect(r.channels.A).toMatchObject({ temperature: null, sensor: 'fault', reading: null });
    expect(r.loops[1]?.temperature).toBeNull();
    sim.setSensor('A', 'uncalibrated');
    expect((await driver.pollCycle()).channels.A).toMatchObject({ temperature: null, sensor: 'uncalibrated' });
    sim.setSensor('A', 'ok');
    expect((await driver.pollCycle()).channels.A).toMatchObject({ temperature: 300, sensor: 'ok' });
  });

  it('takes a NACK in the middle of a grouped reply as that value missing, keeps the rest and names the query', async () => {
    const { sim, driver } = setup({ nack: 'LOOP:HTRRead' });
    const r = await driver.pollCycle();
    expect(r.loops[1]).toMatchObject({ output: 0, heater: null, heaterStatus: '--Htr OK--' });
    expect(r.loops[2]).toMatchObject({ heater: null });
    expect(r.channels.D).toMatchObject({ temperature: 300 });
    expect(r.refused).toEqual(['LOOP 1:HTRR?', 'LOOP 2:HTRR?', 'LOOP 3:HTRR?', 'LOOP 4:HTRR?']);
    sim.setNack([]);
    expect((await driver.pollCycle()).refused).toEqual([]);
  });

  it('rejects a reply with a missing field instead of shifting every value by one', async () => {
    const { sim, driver } = setup();
    await driver.pollCycle();
    sim.corruptNextReplies(1, 'dropField');
    await expect(driver.pollCycle()).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/\d+ field\(s\) for \d+ queries/) });
    expect((await driver.pollCycle()).channels.A?.temperature).toBe(300);
  });

  it('rejects a garbled or cut line', async () => {
    const { sim, driver } = setup();
    sim.corruptNextReplies(1, 'garble');
    await expect(driver.pollCycle()).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/line noise/) });
    sim.corruptNextReplies(1, 'truncate');
    await expect(driver.pollCycle()).rejects.toMatchObject({ code: 'CommunicationFailed' });
    // A field that cannot be the answer to its query (a unit where a reading belongs) is noise too.
    const wrong = new CryoconDriver(scripted(`K;${'1;'.repeat(28)}1`));
    await expect(wrong.pollCycle()).rejects.toMatchObject({ message: expect.stringMatching(/field 1 "K" is no answer to INP A:TEMP\?/) });
  });

  it('takes what units may send: unquoted or empty names, statistics without a value, percentages with %', async () => {
    const channel = new CryoconDriver(scripted('-------;K;SF;;-------;.......;N/A;0;300'));
    expect(await channel.readChannel('A')).toEqual({
      temperature: null,
      sensor: 'fault',
      reading: null,
      units: 'K',
      alarm: 'sensor_fault',
      name: '',
      minimum: null,
      maximum: null,
      variance: null,
      slope: 0,
      offset: 300,
    });
    const loop = new CryoconDriver(scripted('K;K;K;K;45.5%;45%;--Htr-OK--;A;77K;PID;HI;1;10;60;0;0%', '77.000000'));
    expect(await loop.readLoop(1)).toMatchObject({ output: 45.5, heater: 45, heaterStatus: '--Htr-OK--', pman: 0, setpoint: 77, temperature: 77 });
  });

  it('lets link failures through', async () => {
    const dead = new CryoconDriver(scripted());
    await expect(dead.pollCycle()).rejects.toBeInstanceOf(LinkError);
  });
});

describe('writes', () => {
  it('sends each set with its read-back query in one line and returns what the unit holds', async () => {
    const { sim, driver, exchange } = setup();
    expect(await driver.setGain(1, 'P', 25)).toBe(25);
    expect(exchange.lines.at(-1)).toBe(':LOOP 1:PGA 25;PGA?');
    expect(await driver.setGain(2, 'I', 120.5)).toBe(120.5);
    expect(await driver.setGain(2, 'D', 3)).toBe(3);
    expect(await driver.setManualPower(1, 12.5)).toBe(12.5);
    expect(await driver.setType(1, 'RAMPP')).toBe('RAMPP');
    expect(await driver.setRange(2, 'low')).toBe('LOW');
    expect(await driver.setSource(2, 'D')).toBe('D');
    expect(await driver.setUnits('B', 'F')).toBe('F');
    expect(await driver.setChannelName('C', 'Radiation shld')).toBe('Radiation shld');
    expect(await driver.setSystemName('Cryostat 1')).toBe('Cryostat 1');
    expect(await driver.setControl(false)).toBe(false);
    expect(exchange.lines.at(-1)).toBe(':STOP;:CONT?');
    expect(await driver.setControl(true)).toBe(true);
    expect(sim.loop(1)).toMatchObject({ pgain: 25, pman: 12.5, type: 'RAMPP' });
    expect(sim.loop(2)).toMatchObject({ igain: 120.5, dgain: 3, range: 'LOW', source: 'D' });
    expect(sim.channel('B').units).toBe('F');
    expect(sim.handleLine(':SYST:NAM?;:INP C:NAM?')).toBe('"Cryostat 1";"Radiation shld"');
  });

  it('sends the setpoint in the source input\'s display units, read fresh first', async () => {
    const { sim, driver, exchange } = setup({ channels: { A: { units: 'C' }, B: { units: 'F' } } });
    expect(await driver.setSetpoint(1, 77)).toBe(77);
    expect(exchange.lines.slice(-2)).toEqual([':LOOP 1:SOUR?;:INP A:UNIT?;:INP B:UNIT?;:INP C:UNIT?;:INP D:UNIT?', ':LOOP 1:SETP -196.15;SETP?']);
    expect(sim.loop(1).setpoint).toBeCloseTo(77, 9);
    expect(await driver.setSetpoint(2, 20)).toBeCloseTo(20, 3);
    expect(exchange.lines.at(-1)).toBe(':LOOP 2:SETP -423.67;SETP?');
    expect(await driver.setRate(2, 5)).toBe(5);
    expect(exchange.lines.at(-1)).toBe(':LOOP 2:RATE 9;RATE?');
  });

  it('refuses a setpoint for a loop whose input shows sensor units', async () => {
    const { driver } = setup({ channels: { A: { units: 'S' } } });
    await expect(driver.setSetpoint(1, 77)).rejects.toMatchObject({
      code: 'HardwareError',
      message: 'loop 1 regulates on input A, which shows sensor units (S): a setpoint in kelvin cannot be converted; set chA.units to K, C or F',
    });
  });

  it('reports a refused set (NACK before the read-back) with what the unit still holds', async () => {
    const { driver } = setup();
    await expect(driver.setGain(1, 'P', 5000)).rejects.toMatchObject({
      code: 'HardwareError',
      message: 'the controller refused P gain 5000 for loop 1 (NACK to ":LOOP 1:PGA 5000;PGA?"); it still reads 10.000000',
    });
    await expect(driver.setSetpoint(1, 700)).rejects.toMatchObject({ message: expect.stringMatching(/^the controller refused setpoint 700 K for loop 1/) });
  });

  it('reports a set the unit took differently (a silent clamp)', async () => {
    const d = new CryoconDriver(scripted('CHA;K;K;K;K', '450.000K'));
    await expect(d.setSetpoint(1, 480)).rejects.toMatchObject({
      message: 'loop 1 holds setpoint 450.000K instead of 480 K (480 K): refused or limited by the controller (MAXSET?)',
    });
    const d2 = new CryoconDriver(scripted('25.000000'));
    await expect(d2.setGain(1, 'P', 30)).rejects.toMatchObject({ message: 'loop 1 holds P gain 25.000000 instead of 30' });
  });

  it('refuses a read-back of the wrong shape: a set is confirmed only by the answer to its own query', async () => {
    // `ON` answers CONT?, not PGA?: a reply to something else, however it got there.
    const d = new CryoconDriver(scripted('ON'));
    await expect(d.setGain(1, 'P', 30)).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/"ON" is no answer to LOOP 1:PGA\?/) });
    const d2 = new CryoconDriver(scripted('300.000000'));
    await expect(d2.setUnits('A', 'K')).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/is no answer to INP A:UNIT\?/) });
    const d3 = new CryoconDriver(scripted('K'));
    await expect(d3.setControl(true)).rejects.toMatchObject({ code: 'CommunicationFailed', message: expect.stringMatching(/"K" is no answer to CONT\?/) });
  });

  it('takes only a Cryo-con identity as the answer to the resync probe', () => {
    expect(cryoconExchangeOptions.resyncProbe?.request).toEqual(Buffer.from('*IDN?\n'));
    expect(isIdentityReply('Cryo-con,24C,204683,1.01A')).toBe(true);
    expect(isIdentityReply('CRYOCON,32B,1,2')).toBe(true);
    for (const other of ['300.010718;K;104.3;K', 'ON', '10.000000', 'NACK', 'Cryo-con,24C;ON', '#A10.1,402402,C42,noc-oyrC\x7f?', '']) {
      expect(isIdentityReply(other), JSON.stringify(other)).toBe(false);
    }
  });

  it('checks names, types and ranges before sending', async () => {
    const { driver, exchange } = setup();
    await expect(driver.setChannelName('A', 'a "b"')).rejects.toMatchObject({ code: 'WrongType' });
    await expect(driver.setSystemName('x'.repeat(16))).rejects.toMatchObject({ code: 'RangeError' });
    await expect(driver.setType(1, 'SCALE')).rejects.toMatchObject({ code: 'RangeError', message: expect.stringMatching(/^loop 1 has no type SCALE/) });
    await expect(driver.setRange(2, 'MID')).rejects.toMatchObject({ message: 'loop 2 has no range MID; ranges: HI, LOW' });
    expect(exchange.lines).toEqual([]);
  });

  it('sends raw set lines with *OPC? so completion is known, and raw queries as they are', async () => {
    const { sim, driver, exchange } = setup();
    await driver.command(':LOOP 1:PGA 30;IGA 90');
    expect(exchange.lines.at(-1)).toBe(':LOOP 1:PGA 30;IGA 90;:*OPC?');
    expect(sim.loop(1)).toMatchObject({ pgain: 30, igain: 90 });
    await expect(driver.command(':LOOP 1:PGA 3000')).rejects.toMatchObject({ message: 'the controller refused ":LOOP 1:PGA 3000" (NACK)' });
    expect(await driver.query('input? a,b')).toEqual(['300.000000', '300.000000']);
    await expect(driver.query(':CONT')).rejects.toMatchObject({ code: 'WrongType' });
    await driver.clearAlarm('B');
    expect(exchange.lines.at(-1)).toBe(':INP B:ALAR:CLE;:*OPC?'); // the predecessor always cleared A
    await driver.resetStatistics('C');
    expect(exchange.lines.at(-1)).toBe(':INP C:STAT:RES;:*OPC?');
  });
});

describe('identity and models', () => {
  it('identifies the unit and refuses another device or another model', async () => {
    expect(await setup().driver.identify()).toEqual({ idn: 'Cryo-con,24C,204683,1.01A', manufacturer: 'Cryo-con', model: '24C', serial: '204683', firmware: '1.01A' });
    await expect(new CryoconDriver(scripted('JULABO FL1703 V 1.02')).identify()).rejects.toMatchObject({
      code: 'HardwareError',
      message: 'the device answers *IDN? with "JULABO FL1703 V 1.02": not a Cryo-con controller',
    });
    await expect(setup({ model: 'M32' }).driver.identify()).rejects.toMatchObject({
      message: 'the controller is a model 32 ("Cryo-con,32,204683,1.01A"), not the configured M24C; start the daemon with --option model=M32',
    });
  });

  it('polls only the Model 32\'s inputs and loops, and refuses the others', async () => {
    const { driver, exchange } = setup({ model: 'M32' }, { model: 'M32' });
    expect((await driver.identify()).model).toBe('32');
    const r = await driver.readEverything();
    expect(Object.keys(r.channels)).toEqual(['A', 'B']);
    expect(Object.keys(r.loops)).toEqual(['1', '2']);
    expect(exchange.lines.join(';')).not.toMatch(/INP C|LOOP 3/);
    await expect(driver.setGain(3, 'P', 1)).rejects.toMatchObject({ code: 'Disabled', message: 'the M32 has no loop 3; loops: 1, 2' });
    await expect(driver.setUnits('C', 'K')).rejects.toMatchObject({ code: 'Disabled', message: 'the M32 has no input C; inputs: A, B' });
  });

  it('reads only the inputs in use', async () => {
    const { driver, exchange } = setup({}, { inputs: ['A', 'B'] });
    const r = await driver.pollCycle();
    expect(Object.keys(r.channels)).toEqual(['A', 'B']);
    expect(exchange.lines[0]).not.toMatch(/INP C|INP D/);
    await expect(driver.temperature('C')).rejects.toMatchObject({ message: 'input C is not in use (inputs in use: A, B; see the inputs option)' });
    expect(() => new CryoconDriver(scripted(), { model: 'M32', inputs: ['C'] })).toThrow(/the M32 has no input C/);
  });

  it('reads single inputs and the control state', async () => {
    const { sim, driver } = setup();
    expect(await driver.temperature('B')).toEqual({ kelvin: 300, sensor: 'ok', reading: 300, units: 'K' });
    expect(await driver.readChannel('C')).toMatchObject({ name: 'Shield', alarm: 'none', units: 'K' });
    expect(await driver.isControlOn()).toBe(true);
    sim.handleLine('STOP');
    expect(await driver.isControlOn()).toBe(false);
  });
});

describe('pacing through the real Exchange (fake clock)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('never sends two requests closer than 100 ms, even when polls and writes pile up', async () => {
    vi.useFakeTimers();
    const sim = new CryoconSimulator({ noise: 0 }, { now: () => 0 });
    const link = new MemoryLink((line, l) => {
      const reply = sim.respond(line);
      if (reply !== undefined) l.replyAfter(15, `${reply}\n`);
    });
    const exchange = new Exchange(() => link, lineSplitter({ terminators: ['\n'] }), cryoconExchangeOptions);
    await exchange.start();
    const driver = new CryoconDriver(exchange);
    const work = Promise.all([
      driver.identify(),
      driver.pollCycle(),
      driver.setSetpoint(1, 80),
      driver.setGain(1, 'P', 20),
      driver.pollCycle(),
      driver.readEverything(),
      driver.setControl(false),
      driver.pollCycle(),
    ]);
    await vi.advanceTimersByTimeAsync(5000);
    await work;
    const at = link.writes.map((w) => w.at);
    expect(at.length).toBeGreaterThanOrEqual(11);
    const gaps = at.slice(1).map((t, i) => t - at[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(cryoconExchangeOptions.minGapMs!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100);
    await exchange.stop();
  });
});
