import { keithley487Family } from '../../src/devices/keithley487/device.js';
import { Keithley487Model } from '../../src/devices/keithley487/model.js';
import { deviceConformance } from '../../src/testing/conformance/suite.js';
import { BUS_PAIRS_REPLIES, GpibInstrumentBench } from '../../src/testing/conformance/gpib-bench.js';

const ADDRESS = 15;

deviceConformance<GpibInstrumentBench<Keithley487Model>>({
  family: keithley487Family,
  simulatorOptions: { seed: 487 },
  createSimulator: (o) => new GpibInstrumentBench(new Keithley487Model({ seed: o.seed }), ADDRESS),
  link: (port) => ({ kind: 'gpib', host: '127.0.0.1', port, address: ADDRESS }),
  // The source range is 50 V after a reset: 600 V is refused by the daemon before it is sent.
  write: { param: 'source_voltage', valid: 10, outOfRange: 600, limitMessage: /source voltage 600 V is above the 487's 50 V range limit of 50\.5 V/ },
  freshParam: 'operate',
  whileDown: 'set zero_check=1',
  dropLink: (sim) => sim.setOff(true),
  restoreLink: (sim) => sim.setOff(false),
  garbleReplies: (sim, n) => sim.model.garbleNextReplies(n),
  refreshMs: 10_000,
  lateReplies: { notApplicable: BUS_PAIRS_REPLIES },
});
