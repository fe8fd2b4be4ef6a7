import { describe, expect, it } from 'vitest';
import { LinkError, type ExchangeLike, type RequestOptions } from '../../links/types.js';
import { LabwireError } from '../../wire/types.js';
import { JULABO_SERIAL_DEFAULTS, JulaboDriver, julaboExchangeOptions, julaboSplitter } from './driver.js';
import { JulaboSimulator, SIMULATED_VERSION, type JulaboSimulatorOptions } from './simulator.js';

interface Sent {
  bytes: string;
  options: RequestOptions | undefined;
}

/**
 * An ExchangeLike that answers from a function, with the Exchange's contract: a query without a
 * reply times out, a reply failing `validate` is rejected.
 */
function fakeExchange(answer: (line: string) => string | undefined): ExchangeLike & { sent: Sent[] } {
  const sent: Sent[] = [];
  return {
    sent,
    isUp: true,
    async request(data, options) {
      const bytes = Buffer.isBuffer(data) ? data.toString('latin1') : data;
      sent.push({ bytes, options });
      const reply = answer(bytes.replace(/\r?\n?$|\r$/, ''));
      if (options?.expectReply === false) return undefined;
      if (reply === undefined) throw new LinkError('Timeout', `no reply to "${bytes.trim()}"`);
      const buf = Buffer.from(reply, 'latin1');
      if (options?.validate && !options.validate(buf)) throw new LinkError('CommunicationFailed', `unexpected reply "${reply}"`);
      return buf;
    },
  };
}

function simDriver(options: JulaboSimulatorOptions = {}, driverOptions = {}) {
  const sim = new JulaboSimulator({ noise: 0, byteTiming: false, ...options });
  const exchange = fakeExchange((line) => sim.handleLine(line));
  return { sim, exchange, driver: new JulaboDriver(exchange, driverOptions), lines: () => exchange.sent.map((s) => s.bytes) };
}

async function hardwareError(p: Promise<unknown>): Promise<LabwireError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(LabwireError);
  expect((err as LabwireError).code).toBe('HardwareError');
  return err as LabwireError;
}

describe('JulaboDriver reads', () => {
  it('reads version, status, temperature, setpoint and run state', async () => {
    const { driver, lines } = simDriver({ initialTemperature: 18.5 });
    expect(await driver.version()).toBe(SIMULATED_VERSION);
    expect(await driver.status()).toEqual({ code: 2, text: 'REMOTE STOP', error: false });
    expect(await driver.temperature()).toBe(18.5);
    expect(await driver.setpoint()).toBe(25);
    expect(await driver.isRunning()).toBe(false);
    expect(lines()).toEqual(['version\r', 'status\r', 'in_pv_00\r', 'in_sp_00\r', 'in_mode_05\r']);
  });

  it('terminates with CR LF when configured', async () => {
    const { driver, lines } = simDriver({}, { crlf: true });
    await driver.setSetpoint(20);
    expect(lines()).toEqual(['out_sp_00 20.0\r\n', 'in_sp_00\r\n']);
  });

  it('passes a validator with every query so garbage triggers a resync', async () => {
    const { driver, exchange } = simDriver();
    await driver.temperature();
    await driver.status();
    await driver.isRunning();
    for (const s of exchange.sent) {
      expect(s.options?.expectReply).toBe(true);
      expect(typeof s.options?.validate).toBe('function');
    }
  });

  it.each([
    ['temperature', '03 REMOTE START'],
    ['temperature', 'JULABO FL1703 V 1.02'],
    ['setpoint', 'garbage'],
    ['isRunning', '21.50'],
    ['status', '1'],
    ['status', '21.50'],
  ] as const)('%s rejects the stray reply %j', async (method, reply) => {
    const driver = new JulaboDriver(fakeExchange(() => reply));
    await expect(driver[method]()).rejects.toBeInstanceOf(LinkError);
  });

  it('turns a -NN reply to a query into a HardwareError with the device text', async () => {
    const { driver } = simDriver({ sensorAlarm: true });
    const err = await hardwareError(driver.temperature());
    expect(err.message).toBe(
      'chiller reports an error reading the bath temperature: -05 WORKING SENSOR ALARM (Pt100 working sensor shorted or open: the unit has shut down; service needed)',
    );
    const invalid = new JulaboDriver(fakeExchange(() => '-08 INVALID COMMAND'));
    expect((await hardwareError(invalid.setpoint())).message).toBe('chiller reports an error reading the setpoint: -08 INVALID COMMAND');
    expect((await hardwareError(invalid.isRunning())).message).toMatch(/run state: -08 INVALID COMMAND/);
    expect((await hardwareError(invalid.version())).message).toMatch(/version: -08 INVALID COMMAND/);
  });

  it('reports status alarms as values, not errors', async () => {
    const { driver } = simDriver({ lowLevel: true });
    expect(await driver.status()).toEqual({ code: -1, text: 'LOW LEVEL ALARM', error: true });
  });

  it('lets link errors through unchanged', async () => {
    const driver = new JulaboDriver(fakeExchange(() => undefined));
    await expect(driver.temperature()).rejects.toMatchObject({ name: 'LinkError', code: 'Timeout' });
  });
});

describe('JulaboDriver writes', () => {
  it('writes the setpoint without waiting for a reply and confirms it by read-back', async () => {
    const { driver, exchange, sim } = simDriver();
    expect(await driver.setSetpoint(15.5)).toBe(15.5);
    expect(sim.setpoint).toBe(15.5);
    expect(exchange.sent.map((s) => [s.bytes, s.options?.expectReply])).toEqual([
      ['out_sp_00 15.5\r', false],
      ['in_sp_00\r', true],
    ]);
  });

  it('rounds to the two decimals it sends', async () => {
    const { driver, sim } = simDriver();
    expect(await driver.setSetpoint(-12.3456)).toBe(-12.35);
    expect(sim.setpoint).toBe(-12.35);
  });

  it('names the value and the device text when the unit refuses a setpoint', async () => {
    const { driver, sim, lines } = simDriver();
    const err = await hardwareError(driver.setSetpoint(55));
    expect(err.message).toBe('chiller refused setpoint 55: -11 VALUE TOO LARGE');
    expect(sim.setpoint).toBe(25);
    expect(lines()).toEqual(['out_sp_00 55.0\r', 'in_sp_00\r', 'status\r']);
    expect((await hardwareError(driver.setSetpoint(-30))).message).toBe('chiller refused setpoint -30: -10 VALUE TOO SMALL');
  });

  it('says to enable remote control when the unit is under keypad control', async () => {
    const { driver, sim } = simDriver({ remote: false });
    const err = await hardwareError(driver.setSetpoint(20));
    expect(err.message).toMatch(/^chiller refused setpoint 20: -09 COMMAND NOT ALLOWED IN CURRENT OPERATING MODE \(.*enable remote control/);
    // The latch is gone; a second try meets the plain keypad status.
    const again = await hardwareError(driver.setRunning(true));
    expect(again.message).toMatch(/refused to start: -09/);
    sim.handleLine('status');
    const keypad = new JulaboDriver(fakeExchange((line) => (line === 'status' ? '00 MANUAL STOP' : line === 'in_mode_05' ? '0' : undefined)));
    expect((await hardwareError(keypad.start())).message).toBe(
      'chiller refused to start: the unit is under keypad control (00 MANUAL STOP); enable remote control on the unit',
    );
  });

  it('retries the read-back when the unit is slow to apply the value', async () => {
    let setpoint = 25;
    let pending: number | undefined;
    let reads = 0;
    const exchange = fakeExchange((line) => {
      if (line.startsWith('out_sp_00')) pending = Number(line.split(' ')[1]);
      if (line === 'status') return '03 REMOTE START';
      if (line === 'in_sp_00') {
        if (++reads === 2 && pending !== undefined) setpoint = pending;
        return setpoint.toFixed(2);
      }
      return undefined;
    });
    expect(await new JulaboDriver(exchange).setSetpoint(18)).toBe(18);
    expect(exchange.sent.map((s) => s.bytes.trim())).toEqual(['out_sp_00 18.0', 'in_sp_00', 'status', 'in_sp_00']);
  });

  it('gives up after three read-backs with the value it still reads', async () => {
    const exchange = fakeExchange((line) => (line === 'in_sp_00' ? '25.00' : line === 'status' ? '03 REMOTE START' : undefined));
    const err = await hardwareError(new JulaboDriver(exchange).setSetpoint(18));
    expect(err.message).toBe('chiller did not take setpoint 18 °C: it still reads 25 °C after 3 read-backs');
    expect(exchange.sent.filter((s) => s.bytes === 'in_sp_00\r')).toHaveLength(3);
  });

  it('accepts a read-back within 0.05 °C', async () => {
    const exchange = fakeExchange((line) => (line === 'in_sp_00' ? '18.04' : undefined));
    expect(await new JulaboDriver(exchange).setSetpoint(18)).toBe(18.04);
  });

  it('rejects a non-finite setpoint before sending anything', async () => {
    const { driver, exchange } = simDriver();
    await expect(driver.setSetpoint(NaN)).rejects.toMatchObject({ code: 'WrongType' });
    expect(exchange.sent).toHaveLength(0);
  });

  it('starts and stops with read-back', async () => {
    const { driver, sim, lines } = simDriver();
    expect(await driver.start()).toBe(true);
    expect(sim.running).toBe(true);
    expect(await driver.stop()).toBe(false);
    expect(sim.running).toBe(false);
    expect(await driver.setRunning(true)).toBe(true);
    expect(lines().slice(0, 4)).toEqual(['out_mode_05 1\r', 'in_mode_05\r', 'out_mode_05 0\r', 'in_mode_05\r']);
  });

  it('reports an alarm that keeps the unit from starting', async () => {
    const { driver } = simDriver({ lowLevel: true });
    const err = await hardwareError(driver.start());
    expect(err.message).toMatch(/^chiller refused to start: -01 LOW LEVEL ALARM \(.*top up the bath/);
  });

  it('says when the unit does not follow a start without saying why', async () => {
    const exchange = fakeExchange((line) => (line === 'in_mode_05' ? '0' : line === 'status' ? '02 REMOTE STOP' : undefined));
    const err = await hardwareError(new JulaboDriver(exchange).start());
    expect(err.message).toBe('chiller did not start: it still reports stopped');
  });
});

describe('JulaboDriver.sendRaw', () => {
  it('expects a reply unless the line is an out_ command', async () => {
    const { driver, exchange, sim } = simDriver();
    expect(await driver.sendRaw('in_sp_00')).toBe('25.00');
    expect(await driver.sendRaw('OUT_SP_00 12')).toBeUndefined();
    expect(sim.setpoint).toBe(12);
    expect(await driver.sendRaw('nonsense')).toBe('-08 INVALID COMMAND');
    expect(exchange.sent.map((s) => s.options?.expectReply)).toEqual([true, false, true]);
    expect(exchange.sent.map((s) => s.options?.validate)).toEqual([undefined, undefined, undefined]);
  });

  it('refuses lines that would become two commands', async () => {
    const { driver, exchange } = simDriver();
    await expect(driver.sendRaw('in_sp_00\rout_mode_05 1')).rejects.toMatchObject({ code: 'WrongType' });
    await expect(driver.sendRaw('   ')).rejects.toMatchObject({ code: 'WrongType' });
    expect(exchange.sent).toHaveLength(0);
  });
});

describe('link settings', () => {
  it('follow the manual', () => {
    expect(julaboExchangeOptions).toMatchObject({ minGapMs: 250, gapAfterReplyMs: 10, timeoutMs: 2000 });
    expect(JULABO_SERIAL_DEFAULTS).toEqual({ baudRate: 4800, dataBits: 7, parity: 'even', stopBits: 1, rtscts: true });
  });

  it('splits replies on LF, drops CR and blank lines', () => {
    const s = julaboSplitter();
    expect(s.push(Buffer.from('21.5')).map(String)).toEqual([]);
    expect(s.push(Buffer.from('0\r\n\r\n03 REMOTE START\n1\r')).map(String)).toEqual(['21.50', '03 REMOTE START']);
    expect(s.push(Buffer.from('\n')).map(String)).toEqual(['1']);
  });
});
