import { describe } from 'vitest';
import { driverEndToEnd } from './driver-e2e.js';

describe('CryoconDriver ↔ simulator through the Exchange over TCP', () => {
  driverEndToEnd('tcp');
});
