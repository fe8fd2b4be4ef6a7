/**
 * `labwire up lab.yaml`: everything a lab config describes, in one process tree, with a clean
 * shutdown on SIGINT/SIGTERM; and `labwire config schema` for editor completion.
 */
import type { Command } from 'commander';
import type { LabConfig } from '../config/lab.js';
import { onShutdown } from './common.js';

// The lab's modules (config schema, archive, web server, every device family) are imported when a
// command runs, not for `--help` (main.ts keeps start-up light).

/** Starts the lab, prints where everything is, and stops it all on the first signal. */
export async function runLab(config: LabConfig, logLevel: string | undefined): Promise<void> {
  const [{ createLogger }, { startLab }] = await Promise.all([import('../util/logger.js'), import('../lab/run.js')]);
  const logger = createLogger({ level: logLevel });
  const lab = await startLab(config, logger);
  const tlsNote = (t: { ca?: string } | undefined): string => (t ? (t.ca ? ', TLS with client certificates' : ', TLS') : '');
  const daemonTls = new Map(config.daemons.map((d) => [d.name, d.tls]));
  const lines = [
    `${config.name} is running.`,
    `  web page      ${lab.web.url}${config.monitor.webTls?.ca ? ' (client certificates required)' : ''}`,
    `  metrics       ${lab.web.url}metrics`,
    `  monitor       127.0.0.1:${lab.monitor.port} (labwire protocol${tlsNote(config.monitor.tls)})`,
    ...lab.daemons.map((d) => `  ${d.name.padEnd(13)} ${d.daemon.host}:${d.daemon.port} (${d.type} daemon${tlsNote(daemonTls.get(d.name))})${d.metricsUrl ? `, metrics ${d.metricsUrl}` : ''}`),
    `  archive       ${lab.archive ? (config.monitor.archive.kind === 'postgres' ? `PostgreSQL ${config.monitor.archive.url}` : config.monitor.archive.path) : `NONE — ${lab.archiveError}`}`,
    ...(config.secop && lab.secop ? [`  secop         ${config.secop.listen.slice(0, config.secop.listen.lastIndexOf(':'))}:${lab.secop.port} (SECoP node ${config.name}: every labwire device the monitor watches${config.secop.trusted ? ', trusted network' : ''})`] : []),
    ...(config.mqtt ? [`  mqtt          ${config.mqtt.url} topics ${config.mqtt.prefix}/<device>/<param> (commands for ${Object.keys(config.mqtt.users).join(', ') || 'nobody'})`] : []),
    'Stop with Ctrl-C.',
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  onShutdown(async (signal) => {
    logger.info(`${signal}: stopping the lab`);
    await lab.close();
  });
}

export function registerUpCommands(program: Command): void {
  program
    .command('up')
    .description('start everything a lab config file describes: simulators, daemons, the monitor with its archive, and the web page')
    .argument('<lab.yaml>', 'the lab config')
    .option('--log-level <level>', 'trace, debug, info, warn or error (default: $LABWIRE_LOG_LEVEL or info)')
    .addHelpText('after', `
Examples:
  labwire up lab.yaml
  labwire config schema > lab.schema.json    # editor completion for lab.yaml

A minimal lab.yaml:
  simulators:
    - { name: chiller-sim, type: julabo, timeScale: 10 }
  daemons:
    - name: chiller
      type: julabo
      link: sim:chiller-sim          # or serial:///dev/ttyUSB0, tcp://host:port
      listen: 127.0.0.1:7001
      limits: { setpoint: { min: 5, max: 30 } }
      plots: [{ id: temp, values: [time, temperature, setpoint] }]
      # tls: { cert: pki/chiller.pem, key: pki/chiller.key }   # TLS on the daemon's port
  # A GPIB bench: instruments behind a (simulated) Prologix adapter, reached through its bus daemon
  #   simulators: - { name: adapter, type: prologix, instruments: { 14: keithley6485, 22: hp33120a } }
  #   daemons:    - { name: gpib, type: prologix, link: sim:adapter }
  #               - { name: picoammeter, type: keithley6485, link: bus:gpib/14 }   # bus:<bus daemon>/<address>
  monitor:
    web: 127.0.0.1:8888
    # webTls: { cert: pki/monitor.pem, key: pki/monitor.key } # HTTPS for the page
See docs/monitor.md for every option, docs/security.md for TLS, docs/devices/prologix.md for the GPIB bench.`)
    .action(async (file: string, o: { logLevel?: string }) => {
      // Every secret too: a missing token file is reported with the file's other problems, not after a start.
      await runLab((await import('../config/lab.js')).loadLabConfig(file, { secrets: true }), o.logLevel);
    });

  program
    .command('check')
    .description('check a lab config without starting anything: every mistake, missing secret and certificate problem at once')
    .argument('<lab.yaml>', 'the lab config')
    .addHelpText('after', `
Exit status 0 when the lab can start, 2 with every problem listed (file:line:column: key: what is wrong).

Examples:
  labwire check lab.yaml && labwire up lab.yaml`)
    .action(async (file: string) => {
      const lab = (await import('../config/lab.js')).loadLabConfig(file, { secrets: true });
      const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? '' : 's'}`;
      const parts = [count(lab.simulators.length, 'simulator'), count(lab.daemons.length, 'daemon'), count(lab.peers.length, 'peer'), count(lab.alarms.length, 'alarm')];
      process.stdout.write(`${file}: ok — ${lab.name}: ${parts.join(', ')}\n`);
    });

  program
    .command('config')
    .description('lab config helpers')
    .argument('<what>', '"schema": print the JSON Schema of lab.yaml')
    .addHelpText('after', `
Examples:
  labwire config schema > lab.schema.json`)
    .action(async (what: string) => {
      if (what !== 'schema') throw new Error(`unknown config helper "${what}": expected schema`);
      process.stdout.write(`${JSON.stringify((await import('../config/lab.js')).labConfigJsonSchema(), null, 2)}\n`);
    });
}
