/**
 * The device registry: the one place that lists device families. Adding a device is a new folder
 * under devices/ and one line here; the daemon, the CLI and the monitor find families by type.
 */
import type { DeviceFamily } from '../daemon/api.js';
import { cryoconFamily } from './cryocon/device.js';
import { julaboFamily } from './julabo/device.js';
import { arbinFamily } from './arbin/device.js';
import { keithley487Family } from './keithley487/device.js';
import { keithley6485Family } from './keithley6485/device.js';
import { hp33120aFamily } from './hp33120a/device.js';
import { prologixFamily } from './prologix/device.js';
import { archonFamily } from './archon/device.js';

export const deviceFamilies: Readonly<Record<string, DeviceFamily>> = {
  julabo: julaboFamily,
  cryocon: cryoconFamily,
  arbin: arbinFamily,
  keithley487: keithley487Family,
  keithley6485: keithley6485Family,
  hp33120a: hp33120aFamily,
  prologix: prologixFamily,
  archon: archonFamily,
};

export function getFamily(type: string): DeviceFamily {
  const family = deviceFamilies[type];
  if (!family) {
    throw new Error(`unknown device type "${type}"; known types: ${Object.keys(deviceFamilies).join(', ')}`);
  }
  return family;
}
