/**
 * Registers the `gpib://host:port/ADDR` link kind when the prologix family loads (devices/index.ts
 * imports every family), so any daemon, the CLI and the lab file know it. Instrument families
 * behind the bus need nothing of this: they are given the URL.
 */
import { registerLinkKind } from '../../links/registry.js';
import { gpibLinkKind } from '../kits/gpib/link.js';

registerLinkKind(gpibLinkKind);
