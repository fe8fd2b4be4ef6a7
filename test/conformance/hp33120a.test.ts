import { hp33120aFamily } from '../../src/devices/hp33120a/device.js';
import { Hp33120aModel } from '../../src/devices/hp33120a/model.js';
import { deviceConformance } from '../../src/testing/conformance/suite.js';
import { BUS_PAIRS_REPLIES, GpibInstrumentBench } from '../../src/testing/conformance/gpib-bench.js';

const ADDRESS = 22;

deviceConformance<GpibInstrumentBench<Hp33120aModel>>({
  family: hp33120aFamily,
  simulatorOptions: {},
  createSimulator: () => new GpibInstrumentBench(new Hp33120aModel(), ADDRESS),
  link: (port) => ({ kind: 'gpib', host: '127.0.0.1', port, address: ADDRESS }),
  write: { param: 'frequency', valid: 2000, outOfRange: 2e7, limitMessage: /frequency 20000000 Hz is above the hp33120a limit of 15000000 Hz/ },
  freshParam: 'function',
  whileDown: 'set frequency=1000',
  dropLink: (sim) => sim.setOff(true),
  restoreLink: (sim) => sim.setOff(false),
  garbleReplies: (sim, n) => sim.model.garbleNextReplies(n),
  refreshMs: 10_000,
  lateReplies: { notApplicable: BUS_PAIRS_REPLIES },
});
