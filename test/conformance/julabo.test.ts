import { createJulaboSimulator, type JulaboSimulator } from '../../src/devices/julabo/simulator.js';
import { julaboFamily } from '../../src/devices/julabo/device.js';
import { deviceConformance } from '../../src/testing/conformance/suite.js';
import { julaboLateReplies } from './late-reply-subjects.js';

deviceConformance<JulaboSimulator>({
  family: julaboFamily,
  simulatorOptions: { byteTiming: false, noise: 0, timeScale: 10, setpoint: 20 },
  createSimulator: (o) => createJulaboSimulator(o),
  write: { param: 'setpoint', valid: 12.5, outOfRange: 45, limitMessage: /setpoint 45 °C is above the FL1703 limit of 40 °C/ },
  freshParam: 'setpoint',
  whileDown: 'set setpoint=12.5',
  dropLink: (sim) => sim.setFault('linkDrop', true),
  restoreLink: (sim) => sim.setFault('linkDrop', false),
  garbleReplies: (sim, n) => sim.garbleNextReplies(n),
  refreshMs: 8000,
  lateReplies: julaboLateReplies,
});
