import { createCryoconSimulator, type CryoconSimulator } from '../../src/devices/cryocon/simulator.js';
import { cryoconFamily } from '../../src/devices/cryocon/device.js';
import { deviceConformance } from '../../src/testing/conformance/suite.js';
import { cryoconLateReplies } from './late-reply-subjects.js';

deviceConformance<CryoconSimulator>({
  family: cryoconFamily,
  // No noise, a clock 100 times faster: the cryostat settles while the suite runs.
  simulatorOptions: { noise: 0, timeScale: 100, byteTiming: false },
  createSimulator: (o) => createCryoconSimulator(o),
  write: { param: 'loop1.pgain', valid: 25, outOfRange: 2000, limitMessage: /loop1\.pgain 2000 is above the cryocon limit of 1000/ },
  // Read in every poll cycle (the gains come round only every few cycles).
  freshParam: 'control',
  whileDown: 'set loop1.pgain=25',
  dropLink: (sim) => sim.setFault('linkDrop', true),
  restoreLink: (sim) => sim.setFault('linkDrop', false),
  garbleReplies: (sim, n) => sim.garbleNextReplies(n),
  // A full rotation of the settings takes 7 one-second cycles.
  refreshMs: 12_000,
  lateReplies: cryoconLateReplies,
});
