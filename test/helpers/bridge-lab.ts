/**
 * The lab file the bridge tests (`secop:`, `tango:`) start with `labwire up`: a simulated Julabo,
 * its daemon that lets anonymous peers only read (so a write that works proves the bridge used
 * the monitor's token, read from tokens.txt in the lab's folder) and a monitor on loopback.
 */
export const BRIDGE_LAB_TOKEN = 'monitor-token-0123456789';

/** The lab file with `bridge` (a top-level section such as `secop: {...}`) added at its end. */
export function bridgeLabYaml(bridge: string): string {
  return [
    'name: beamline',
    'simulators:',
    '  - { name: bath, type: julabo, options: { byteTiming: false } }',
    'daemons:',
    '  - { name: chiller, type: julabo, link: "sim:bath", tokenFile: tokens.txt, anonymousRole: viewer, auditFile: audit.jsonl, limits: { setpoint: { max: 30 } } }',
    'monitor:',
    '  listen: 127.0.0.1:0',
    '  web: 127.0.0.1:0',
    `  peerToken: ${BRIDGE_LAB_TOKEN}`,
    '  archive: { path: archive.sqlite }',
    bridge,
    '',
  ].join('\n');
}
