import { afterEach, describe, expect, it } from 'vitest';
import type { SimulatorOptions } from '../../daemon/api.js';
import { fakeClock } from '../../testing/fake-clock.js';
import { serialStreamClient, tcpStreamClient, type StreamClient } from '../../testing/stream-client.js';
import { splitReply } from './codec.js';
import { CryoconSimulator, HARDWARE_MIN_GAP_MS, createCryoconSimulator, expandDottedKeys, parseCommand, type CryoconSimulatorOptions } from './simulator.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

/** A simulator on a fake clock without noise: every reply is deterministic. */
function quietSim(options: CryoconSimulatorOptions = {}) {
  const clock = fakeClock();
  const sim = new CryoconSimulator({ noise: 0, ...options }, { now: clock.now });
  open.push(sim);
  return { sim, clock, q: (line: string) => sim.handleLine(line) };
}

/** A raw client that sees the LF line ends the unit sends. */
const tcpLineClient = (port: number) => tcpStreamClient(port, { lineEnd: '\n' });

async function tcp(sim: CryoconSimulator): Promise<StreamClient> {
  const c = await tcpLineClient(await sim.listenTcp('127.0.0.1', 0));
  open.push(c);
  return c;
}

describe('protocol: the reference transcript, with the predecessor simulator\'s bugs fixed', () => {
  it('answers identity, control and channel-list queries like the unit', () => {
    const { q } = quietSim();
    expect(q('*IDN?')).toBe('Cryo-con,24C,204683,1.01A');
    expect(q(':*IDN?;')).toBe('Cryo-con,24C,204683,1.01A');
    expect(q('SYST:HWR?;:SYST:FWR?')).toBe('12A4FE;78C90A');
    expect(q(':CONTROL;:CONTROL?;')).toBe('ON');
    expect(q('STOP')).toBeUndefined();
    expect(q('input? a,b,c,d;:cont?')).toBe('300.000000;300.000000;300.000000;300.000000;OFF');
    expect(q(':INPUT A:UNIT C;:INPUT A:UNIT?;')).toBe('C');
    expect(q(':INPUT A:TEMP?')).toBe('26.850000');
  });

  it('returns the setpoint with its unit suffix (the predecessor sent `20`, read back as 2.0)', () => {
    const { q } = quietSim();
    expect(q(':LOOP 1:SETPT 20;:LOOP 1:SETPT?;')).toBe('20.000K');
    q(':INP A:UNIT C');
    expect(q(':LOOP 1:SETPT?')).toBe('-253.150C');
    q(':INP A:UNIT F');
    expect(q(':LOOP 1:SETPT?')).toBe('-423.670F');
    // A setpoint is taken in the source's display units, or in the unit its suffix names.
    q(':LOOP 1:SETPT -321.07');
    expect(q(':INP A:UNIT K;:LOOP 1:SETPT?')).toBe('77.000K');
    q(':LOOP 1:SETPT -200C');
    expect(q(':LOOP 1:SETPT?')).toBe('73.150K');
  });

  it('answers every loop query, including those the predecessor simulator refused', () => {
    const { q } = quietSim();
    expect(q(':LOOP 1:TYP?;:LOOP 1:RANG?;:LOOP 1:RATE?;:LOOP 1:OUTP?;')).toBe('PID  ;HI ;10.000000;0.000000');
    expect(q(':LOOP 1:PGA?;IGA?;DGA?')).toBe('10.000000;60.000000;0.000000');
    const ccdlab = q(':loop 1:err?;rang?;type?;load?;outp?;htrr?;sour?;setp?;ramp?;rate?;pman?;');
    expect(splitReply(ccdlab!)).toEqual(['--Htr OK--', 'HI ', 'PID  ', '50', '0.000000', '   0%', 'CHA', '300.000K', 'OFF', '10.000000', '0.000000']);
    expect(q('LOOP 2:SOURCE?')).toBe('CHB');
    expect(q(':LOOP 4:TYPE?;RANGE?')).toBe('OFF  ;10V');
    expect(q(':LOOP 1:MAXP?;MAXS?;VSEN?;ISEN?;LSEN?;HTRH?;AUT:STAT?')).toBe('100.000000;500.000K;0.00V;0.000A;-1.00;25.0C;IDLE');
  });

  it('names inputs by default and answers statistics (the predecessor crashed on NAM?, NACKed OFFS?)', () => {
    const { q } = quietSim();
    expect(q(':INPUT A:NAM?;')).toBe('"Stage"');
    expect(q(':INP B:NAME?;:INP C:NAM?;:INP D:NAM?')).toBe('"Cold head";"Shield";"Sample"');
    expect(q(':INPUT A:MIN?;MAX?;VARI?;SLOP?;OFFS?;ALAR?')).toBe('300.000000;300.000000;0.000000;0.000000;300.000000;--');
    expect(q(':INP A:VBI?;SENP?')).toBe('N/A;0.520000');
  });

  it('sets all units of a channel list (ccdlab\'s set-up line closed the predecessor\'s connection)', () => {
    const { q } = quietSim();
    expect(q('input a,b,c,d:units c;:loop 1:load 50;:loop 2:load 0;')).toBe('NACK');
    expect(q('input? a,b,c,d')).toBe('26.850000;26.850000;26.850000;26.850000');
    expect(q('INP A,B:UNIT?')).toBe('C;C');
  });

  it('answers NACK for what it does not take, and changes nothing', () => {
    const { q } = quietSim();
    const before = q(':LOOP 1:PGA?;TYPE?;RANG?;SETP?;:SYST:NAM?;:INP A:NAM?');
    expect(q('FOO')).toBe('NACK');
    expect(q('FOO?')).toBe('NACK');
    expect(q(':LOOP 1:PGA 2000')).toBe('NACK');
    expect(q(':LOOP 1:PGA abc')).toBe('NACK');
    expect(q(':LOOP 1:TYPE SCALE')).toBe('NACK');
    expect(q(':LOOP 1:RANG 10V')).toBe('NACK');
    expect(q(':LOOP 2:RANG MID')).toBe('NACK');
    expect(q(':LOOP 1:SETP 600')).toBe('NACK'); // above MAXSET
    expect(q(':LOOP 1:OUTP 50')).toBe('NACK'); // read-only
    expect(q(':LOOP 5:SETP?')).toBe('NACK');
    expect(q(':INP E:TEMP?')).toBe('NACK');
    expect(q(':INP:TEMP?')).toBe('NACK');
    expect(q(':SYST:NAM too long a name')).toBe('NACK');
    expect(q(':SYST:NAM "0123456789abcdef"')).toBe('NACK');
    expect(q(':INP A:NAM unquoted')).toBe('NACK');
    expect(q(':CONT ON')).toBe('NACK');
    expect(q('!!!')).toBe('NACK');
    expect(q(`:INP A:TEMP?;${'x'.repeat(260)}`)).toBe('NACK');
    expect(q(':LOOP 1:PGA?;TYPE?;RANG?;SETP?;:SYST:NAM?;:INP A:NAM?')).toBe(before);
  });

  it('keeps a NACK in its place among the other answers', () => {
    const { q } = quietSim();
    expect(q(':INP A:UNIT?;BOGUS?;ALAR?')).toBe('K;NACK;--');
    expect(q(':LOOP 1:PGA 2000;PGA?')).toBe('NACK;10.000000');
  });

  it('resolves relative paths in the subsystem of the previous command, absolute ones from the root', () => {
    const { q } = quietSim();
    expect(q(':INP A:ALAR:HIGH?;LOWE?;HIEN?')).toBe('400.000000;0.000000;OFF');
    expect(q(':INP B:UNIT F;TEMP?')).toBe('80.330000');
    expect(q(':LOOP 2:RANG LOW;RANG?;:LOOP 1:RANG?')).toBe('LOW;HI ');
    // Common commands leave the path alone; a relative header that names nothing is tried from the root.
    expect(q(':LOOP 1:TYPE?;*IDN?;RANG?')).toBe('PID  ;Cryo-con,24C,204683,1.01A;HI ');
    expect(q(':INP A:TEMP?;CONT?')).toBe('300.000000;ON');
  });

  it('selects inputs by letter, CHx tag or number from zero, and loops 1–4', () => {
    const { q } = quietSim();
    expect(q(':INP 0:NAM?;:INP CHB:NAM?;:INP chc:NAM?;:INP 3:NAM?')).toBe('"Stage";"Cold head";"Shield";"Sample"');
    expect(q('INP? A,C')).toBe('300.000000;300.000000');
    expect(q('INPUT? A,E')).toBe('NACK');
  });

  it('takes keywords in short, long and in-between forms, any case', () => {
    const { q } = quietSim();
    expect(q(':INPut A:TEMPer?;:input a:temperature?;:INP A:TEMP?')).toBe('300.000000;300.000000;300.000000');
    expect(q(':SYSTEM:NAME?;:syst:nam?')).toBe('"labwire sim";"labwire sim"');
    expect(q(':INP A:TE?')).toBe('NACK');
  });

  it('converts readings to each display unit, sensor units included', () => {
    const { q } = quietSim();
    expect(q(':INP A:UNIT K;TEMP?;:INP A:UNIT C;TEMP?;:INP A:UNIT F;TEMP?;:INP A:UNIT S;TEMP?')).toBe('300.000000;26.850000;80.330000;0.520000');
    expect(q(':LOOP 1:SETP?')).toBe('0.52000V');
    expect(q(':INP A:MIN?')).toBe('N/A');
  });

  it('answers common commands; *RST stops the loops', () => {
    const { q } = quietSim();
    expect(q('*OPC?')).toBe('1');
    expect(q('*CLS;*ESE 0;*SRE 0')).toBeUndefined();
    expect(q('*ESR?;*STB?')).toBe('0;0');
    expect(q(':CONT?')).toBe('ON');
    expect(q('*RST')).toBeUndefined();
    expect(q(':CONT?')).toBe('OFF');
    expect(q(':LOOP 1:PGA 20;:*OPC?')).toBe('1');
  });

  it('system settings: name, lockout, LED, display filter, date and time', () => {
    const { q } = quietSim();
    expect(q(':SYST:NAM "Cryostat 2";NAM?')).toBe('"Cryostat 2"');
    expect(q(':SYST:LOCK ON;LOCK?;REML OFF;REML?;DIST 4;DIST?')).toBe('ON;OFF;4.0');
    expect(q(':SYST:DATE?')).toMatch(/^"\d{2}\/\d{2}\/\d{4}"$/);
    expect(q(':SYST:TIME?')).toMatch(/^"\d{2}:\d{2}:\d{2}"$/);
    expect(q(':SYST:DIST 100')).toBe('NACK');
  });

  it('parses commands into headers, selectors and arguments', () => {
    expect(parseCommand('INPUT? A,B,C,D')).toEqual({ absolute: false, nodes: [{ word: 'INPUT' }], query: true, args: 'A,B,C,D' });
    expect(parseCommand(':LOOP 1:SETPT 123.45')).toEqual({ absolute: true, nodes: [{ word: 'LOOP', selector: '1' }, { word: 'SETPT' }], query: false, args: '123.45' });
    expect(parseCommand('SYST:NAM "a:b c"')).toEqual({ absolute: false, nodes: [{ word: 'SYST' }, { word: 'NAM' }], query: false, args: '"a:b c"' });
    expect(parseCommand('input a,b,c,d:units c')?.nodes).toEqual([{ word: 'input', selector: 'a,b,c,d' }, { word: 'units' }]);
    expect(parseCommand('*IDN?')).toEqual({ absolute: false, nodes: [{ word: '*IDN' }], query: true, args: '' });
    expect(parseCommand('::')).toBeUndefined();
    expect(parseCommand('LOOP 1;')).toEqual({ absolute: false, nodes: [{ word: 'LOOP' }], query: false, args: '1;' });
  });

  it('ends replies with `;` when asked to, like the manual\'s example', () => {
    const { q } = quietSim({ trailingSemicolon: true });
    expect(q(':LOOP 1:SETP?;PGA?;IGA?;DGA?')).toBe('300.000K;10.000000;60.000000;0.000000;');
  });

  it('answers NACK for commands listed as missing from the firmware', () => {
    const { sim, q } = quietSim({ nack: 'LOOP:HTRRead' });
    expect(q(':LOOP 1:OUTP?;HTRR?;ERR?')).toBe('0.000000;NACK;--Htr OK--');
    sim.setNack([]);
    expect(q(':LOOP 1:HTRR?')).toBe('   0%');
  });
});

describe('the Model 32', () => {
  it('has inputs A and B and loops 1 and 2 only', () => {
    const { q } = quietSim({ model: 'M32' });
    expect(q('*IDN?')).toBe('Cryo-con,32,204683,1.01A');
    expect(q(':INP A:NAM?;:INP B:NAM?;:INP C:NAM?')).toBe('"Stage";"Cold head";NACK');
    expect(q(':LOOP 2:TYPE?;:LOOP 3:TYPE?')).toBe('OFF  ;NACK');
    expect(() => new CryoconSimulator({ model: 'M32', channels: { C: { units: 'C' } } })).toThrow(/channels\.C: the M32 has inputs A, B/);
  });
});

describe('physics and control', () => {
  it('holds the stage at 300 K with PID while the cryocooler cools the cold head', () => {
    const { sim, q } = quietSim();
    sim.advance(3600);
    expect(sim.temperature('A')).toBeCloseTo(300, 1);
    expect(sim.temperature('B')).toBeLessThan(150);
    const out = Number(q(':LOOP 1:OUTP?'));
    expect(out).toBeGreaterThan(50);
    expect(sim.loop(1).powerW).toBeCloseTo((out / 100) * 50, 5);
    expect(q(':LOOP 1:HTRR?')).toBe(`${String(Math.round(out)).padStart(4)}%`);
  });

  it('reaches a new setpoint with its PID gains and holds it', () => {
    const { sim, q } = quietSim();
    sim.advance(3600);
    q(':LOOP 1:SETP 77');
    sim.advance(1800);
    expect(sim.temperature('A')).toBeGreaterThan(85); // an hour-scale cool-down, not a jump
    sim.advance(3 * 3600);
    expect(Math.abs(sim.temperature('A') - 77)).toBeLessThan(0.05);
    expect(Number(q(':LOOP 1:OUTP?'))).toBeGreaterThan(5); // heating against the cold head
    expect(sim.temperature('D')).toBeGreaterThan(77); // the sample hangs a little warmer
  });

  it('turns the heaters off on STOP and lets the stage cool towards the cold head', () => {
    const { sim, q } = quietSim();
    sim.advance(3600);
    q('STOP');
    sim.advance(1);
    expect(q(':LOOP 1:OUTP?;HTRR?')).toBe('0.000000;   0%');
    sim.advance(1800);
    expect(sim.temperature('A')).toBeLessThan(290);
  });

  it('drives manual power into the heater in its range', () => {
    const { sim, q } = quietSim();
    q(':LOOP 1:TYPE MAN;PMAN 40;RANG MID');
    sim.advance(10);
    expect(q(':LOOP 1:OUTP?')).toBe('40.000000');
    expect(sim.loop(1).powerW).toBeCloseTo(0.4 * 5, 6);
    q(':LOOP 1:LOAD 25;RANG HI');
    sim.advance(1);
    expect(sim.loop(1).powerW).toBeCloseTo(0.4 * 25, 6);
  });

  it('ramps the setpoint at the rate in RAMPP and reports the ramp', () => {
    const { sim, q } = quietSim();
    sim.advance(3600);
    q(':LOOP 1:RATE 2;TYPE RAMPP;SETP 280');
    sim.advance(60);
    expect(q(':LOOP 1:RAMP?')).toBe('ON');
    // 2 K/min: about 290 K after five minutes, still on the way.
    sim.advance(240);
    expect(sim.temperature('A')).toBeGreaterThan(287);
    expect(sim.temperature('A')).toBeLessThan(293);
    sim.advance(3600);
    expect(q(':LOOP 1:RAMP?')).toBe('OFF');
    expect(Math.abs(sim.temperature('A') - 280)).toBeLessThan(0.1);
  });

  it('follows the clock times the time scale', () => {
    const { sim, clock } = quietSim({ timeScale: 60 });
    clock.tick(1000);
    expect(sim.simulatedSeconds).toBeCloseTo(60, 0);
    clock.tick(500);
    expect(sim.simulatedSeconds).toBeCloseTo(90, 0);
  });

  it('keeps statistics of each input until they are reset', () => {
    const { sim, q } = quietSim();
    sim.advance(1800);
    const [min, max, variance, slope] = splitReply(q(':INP B:MIN?;MAX?;VARI?;SLOP?')!).map(Number);
    expect(max).toBe(300);
    expect(min).toBeCloseTo(sim.temperature('B'), 1);
    expect(variance).toBeGreaterThan(100);
    expect(slope).toBeLessThan(0);
    q(':INP B:STAT:RES');
    sim.advance(1);
    const [min2, max2] = splitReply(q(':INP B:MIN?;MAX?')!).map(Number);
    expect(max2! - min2!).toBeLessThan(1);
  });
});

describe('faults on demand', () => {
  it('a sensor fault reads ------- with alarm SF and turns off the loop that uses it', () => {
    const { sim, q } = quietSim();
    sim.advance(600);
    sim.setSensor('A', 'fault');
    sim.advance(1);
    expect(q(':INP A:TEMP?;ALAR?;:LOOP 1:OUTP?')).toBe('-------;SF;0.000000');
    expect(q('INPUT? A,B')).toMatch(/^-------;\d+\.\d{6}$/);
    sim.setSensor('A', 'ok');
    expect(q(':INP A:ALAR?')).toBe('--');
  });

  it('a reading outside the calibration curve is .......', () => {
    const { sim, q } = quietSim({ channels: { B: { calibrationMin: 200 } } });
    sim.setSensor('A', 'uncalibrated');
    expect(q(':INP A:TEMP?')).toBe('.......');
    sim.advance(3600);
    expect(q(':INP B:TEMP?')).toBe('.......');
  });

  it('a heater fault shows in ERR? and a disconnected heater reads back 0 %', () => {
    const { sim, q } = quietSim();
    sim.advance(600);
    sim.setHeaterStatus(1, 'otdisconn');
    sim.advance(1);
    expect(q(':LOOP 1:ERR?;HTRR?;OUTP?')).toBe('OTDisconn;   0%;0.000000');
    sim.setHeaterStatus(1, 'fanFault');
    sim.advance(1);
    expect(q(':LOOP 1:ERR?')).toBe('Fan Fault');
    expect(Number(q(':LOOP 1:OUTP?'))).toBeGreaterThan(0);
  });

  it('raises high and low alarms with a dead-band, and a latched one until cleared', () => {
    const { sim, q } = quietSim({ channels: { B: { alarmLow: 250, alarmLowEnabled: true, alarmDeadband: 5 } } });
    expect(q(':INP B:ALAR?')).toBe('--');
    sim.advance(600);
    expect(q(':INP B:ALAR?')).toBe('LO');
    q(':INP A:ALAR:HIGH 299;HIEN ON;LTEN ON');
    sim.advance(1);
    expect(q(':INP A:ALAR?')).toBe('HI');
    q(':INP A:ALAR:HIGH 400');
    sim.advance(1);
    expect(q(':INP A:ALAR?')).toBe('HI'); // latched
    q(':INP A:ALAR:CLE');
    expect(q(':INP A:ALAR?;:INP B:ALAR?')).toBe('--;LO'); // clearing A leaves B alone
  });
});

describe('on the wire (TCP)', () => {
  it('answers each line with one LF-terminated line and never drops the connection', async () => {
    const sim = new CryoconSimulator({ noise: 0, earlyRequests: 'delay' });
    open.push(sim);
    const c = await tcp(sim);
    await c.write('*IDN?\n');
    await c.write('FOO\n:INP A:NAM?\nLOOP 2:SOURCE?\ninput a,b,c,d:units c\n');
    await c.write(`\x00\xff garbage ;;; :::\n${'y'.repeat(400)}\n"unbalanced;\n`);
    await c.write(':INP A:UNIT?\r\n*IDN?\n');
    const lines = await c.waitForLines(8, 4000);
    // The set line is silent; two bad commands in one line give two NACKs; the overlong line one.
    expect(lines).toEqual(['Cryo-con,24C,204683,1.01A', 'NACK', '"Stage"', 'CHB', 'NACK;NACK', 'NACK', 'NACK', 'C']);
    expect((await c.waitForLines(9, 2000))[8]).toBe('Cryo-con,24C,204683,1.01A');
    expect(c.isClosed).toBe(false);
    expect(sim.stats).toMatchObject({ requests: 10, replies: 9, nacks: 5 });
  });

  it('takes one request per 100 ms: early ones wait (delay) and are counted', async () => {
    const sim = new CryoconSimulator({ noise: 0 });
    open.push(sim);
    const c = await tcp(sim);
    const t0 = performance.now();
    await c.write('*IDN?\n:CONT?\n:INP A:UNIT?\n');
    await c.waitForLines(3, 2000);
    // The third reply cannot come before two full gaps have passed.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(2 * HARDWARE_MIN_GAP_MS - 5);
    expect(c.lines).toEqual(['Cryo-con,24C,204683,1.01A', 'ON', 'K']);
    expect(sim.stats.earlyRequests).toBe(2);
    expect(sim.stats.minRequestGapMs).toBeLessThan(HARDWARE_MIN_GAP_MS);
  });

  it('loses early requests when set to drop them, and says so in the transcript', async () => {
    const sim = new CryoconSimulator({ noise: 0, earlyRequests: 'drop' });
    open.push(sim);
    const c = await tcp(sim);
    await c.write('*IDN?\n:CONT?\n:INP A:UNIT?\n');
    expect(await c.quietLines(300)).toEqual(['Cryo-con,24C,204683,1.01A']);
    expect(sim.stats).toMatchObject({ earlyRequests: 2, dropped: 2, replies: 1 });
    expect(sim.transcript.filter((e) => e.dropped).map((e) => e.request)).toEqual([':CONT?', ':INP A:UNIT?']);
    await new Promise((r) => setTimeout(r, HARDWARE_MIN_GAP_MS + 10));
    await c.write(':CONT?\n');
    expect(await c.waitForLines(2)).toEqual(['Cryo-con,24C,204683,1.01A', 'ON']);
  });

  it('drops and refuses TCP on linkDrop, and serves again when it is lifted', async () => {
    const sim = new CryoconSimulator({ noise: 0 });
    open.push(sim);
    const port = await sim.listenTcp('127.0.0.1', 0);
    const c = await tcpLineClient(port);
    sim.setFault('linkDrop', true);
    await c.closed;
    const refused = await tcpLineClient(port);
    await refused.closed;
    sim.setFault('linkDrop', false);
    const again = await tcpLineClient(port);
    open.push(again);
    await again.write('*IDN?\n');
    expect(await again.waitForLines(1)).toEqual(['Cryo-con,24C,204683,1.01A']);
  });

  it('corrupts the next replies on demand: line noise, a missing field, a cut line', async () => {
    const sim = new CryoconSimulator({ noise: 0 });
    open.push(sim);
    const c = await tcp(sim);
    sim.corruptNextReplies(1, 'garble');
    sim.corruptNextReplies(1, 'dropField');
    sim.corruptNextReplies(1, 'truncate');
    for (const line of [':INP A:UNIT?;ALAR?', ':INP A:UNIT?;ALAR?;NAM?', ':INP A:NAM?', ':INP A:UNIT?;ALAR?']) {
      await c.write(`${line}\n`);
      await new Promise((r) => setTimeout(r, HARDWARE_MIN_GAP_MS + 5));
    }
    const lines = await c.waitForLines(4);
    expect(lines[0]).toBe('#--;K\x7f?');
    expect(lines[1]).toBe('K;"Stage"');
    expect(lines[2]).toBe('"St');
    expect(lines[3]).toBe('K;--');
  });

  it('stays silent while the silent fault is active', async () => {
    const sim = new CryoconSimulator({ noise: 0, silent: true });
    open.push(sim);
    const c = await tcp(sim);
    await c.write('*IDN?\n');
    expect(await c.quietLines(150)).toEqual([]);
    sim.setFault('silent', false);
    await c.write('*IDN?\n');
    expect(await c.waitForLines(1)).toEqual(['Cryo-con,24C,204683,1.01A']);
  });
});

describe('on a pseudo-terminal', () => {
  it('answers like over TCP, with the character time of 9600 baud', async () => {
    const sim = new CryoconSimulator({ noise: 0 });
    open.push(sim);
    const c = await serialStreamClient(await sim.listenPty(), { lineEnd: '\n', baudRate: 9600 });
    open.push(c);
    const t0 = performance.now();
    await c.write('*IDN?\n');
    expect(await c.waitForLines(1)).toEqual(['Cryo-con,24C,204683,1.01A']);
    // 26 characters of 10 bits at 9600 baud take 27 ms on the line.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    await new Promise((r) => setTimeout(r, HARDWARE_MIN_GAP_MS));
    await c.write(':INP A:NAM?;:LOOP 1:TYPE?\n');
    expect((await c.waitForLines(2))[1]).toBe('"Stage";PID  ');
  });
});

describe('options', () => {
  it('takes the strings and dotted keys a command line passes', () => {
    const fromCli: Record<string, unknown> = {
      timeScale: '60',
      control: 'off',
      'loops.1.setpoint': '80',
      'loops.1.type': 'rampp',
      'loops.2.source': 'chd',
      'channels.A.units': 'c',
      'channels.B.name': 'Head',
      'cryostat.initialTemperature': '290',
      nack: 'LOOP:HTRR, INP:SLOPE',
      serial: 123,
    };
    const sim = createCryoconSimulator(fromCli as SimulatorOptions) as CryoconSimulator;
    open.push(sim);
    expect(sim.handleLine(':CONT?;:LOOP 1:TYPE?;SETP?;:LOOP 2:SOUR?;:INP B:NAM?;:LOOP 1:HTRR?;:INP A:SLOP?;:*IDN?')).toBe(
      'OFF;RAMPP;-193.150C;CHD;"Head";NACK;NACK;Cryo-con,24C,123,1.01A',
    );
    // Time runs 60 times faster from construction on: a loaded machine may let a moment pass.
    expect(sim.temperature('A')).toBeCloseTo(290, 0);
  });

  it('merges nested channel and loop settings with the defaults', () => {
    const { q } = quietSim({ channels: { A: { name: 'Sample stage' } }, loops: { '2': { type: 'MAN', pman: 12 } }, cryostat: { initial: { stage: 10 } } });
    expect(q(':INP A:NAM?;:INP B:NAM?;:LOOP 2:TYPE?;PMAN?;:LOOP 1:TYPE?')).toBe('"Sample stage";"Cold head";MAN  ;12.000000;PID  ');
    expect(q(':INP A:TEMP?;:INP B:TEMP?')).toBe('10.000000;300.000000');
  });

  it('expands dotted keys into nested objects', () => {
    expect(expandDottedKeys({ 'a.b.c': 1, a: { b: { d: 2 } }, e: 3 })).toEqual({ a: { b: { c: 1, d: 2 } }, e: 3 });
  });

  it('refuses unknown or impossible settings with a message naming them', () => {
    expect(() => new CryoconSimulator({ tempScale: 3 } as CryoconSimulatorOptions)).toThrow(/invalid options for the cryocon simulator: unknown option\(s\) tempScale/);
    expect(() => new CryoconSimulator({ loops: { '1': { type: 'SCALE' } } })).toThrow(/loops\.1\.type: SCALE exists on loops 3 and 4 only/);
    expect(() => new CryoconSimulator({ loops: { '2': { range: 'MID' } } })).toThrow(/loops\.2\.range: loop 2 has ranges HI, LOW/);
    expect(() => new CryoconSimulator({ loops: { '1': { pgain: 2000 } } })).toThrow(/loops\.1\.pgain/);
    expect(() => new CryoconSimulator({ name: 'a much too long system name' })).toThrow(/name: at most 15 characters/);
    expect(() => new CryoconSimulator({ timeScale: 0 })).toThrow(/timeScale/);
    expect(() => new CryoconSimulator({ model: 'M99' as 'M24C' })).toThrow(/model/);
  });
});
