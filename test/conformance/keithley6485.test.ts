import { keithley6485Family } from '../../src/devices/keithley6485/device.js';
import { Keithley6485Model } from '../../src/devices/keithley6485/model.js';
import { deviceConformance } from '../../src/testing/conformance/suite.js';
import { BUS_PAIRS_REPLIES, GpibInstrumentBench } from '../../src/testing/conformance/gpib-bench.js';

const ADDRESS = 14;

deviceConformance<GpibInstrumentBench<Keithley6485Model>>({
  family: keithley6485Family,
  simulatorOptions: { seed: 6485 },
  createSimulator: (o) => new GpibInstrumentBench(new Keithley6485Model({ seed: o.seed }), ADDRESS),
  link: (port) => ({ kind: 'gpib', host: '127.0.0.1', port, address: ADDRESS }),
  write: { param: 'nplc', valid: 2, outOfRange: 10, limitMessage: /nplc 10 PLC is above the keithley6485 limit of 6 PLC/ },
  freshParam: 'zero_check',
  whileDown: 'set nplc=1',
  dropLink: (sim) => sim.setOff(true),
  restoreLink: (sim) => sim.setOff(false),
  garbleReplies: (sim, n) => sim.model.garbleNextReplies(n),
  refreshMs: 10_000,
  lateReplies: { notApplicable: BUS_PAIRS_REPLIES },
});
