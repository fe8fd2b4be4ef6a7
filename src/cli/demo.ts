/**
 * `labwire demo`: the whole simulated lab in one command — a simulator and a daemon for every
 * device family, the monitor with an embedded SQLite archive in a local data folder, and the web
 * page — so a newcomer sees labwire work before owning any hardware. The lab itself is in
 * demo-lab.ts, loaded when the command runs (not for `--help`: main.ts keeps start-up light).
 */
import path from 'node:path';
import type { Command } from 'commander';
import { CliError } from './common.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start a simulated lab on this machine: every device family simulated, daemons, the monitor, the archive and the web page')
    .option('--port <n>', 'first daemon port; the others count up', '7001')
    .option('--web <port>', 'port of the web page', '8888')
    .option('--monitor <port>', 'labwire port of the monitor', '7100')
    .option('--data <dir>', 'where the archive is kept', 'labwire-data')
    .option('--time-scale <factor>', 'speed up the simulated physics', '10')
    .option('--log-level <level>', 'trace, debug, info, warn or error (default: $LABWIRE_LOG_LEVEL or info)')
    .option('--mqtt <url>', 'also publish every value to this MQTT broker under labwire/ (login from $LABWIRE_MQTT_USER and $LABWIRE_MQTT_PASSWORD; docs/mqtt.md)')
    .addHelpText('after', `
Examples (open the printed URL, or in another terminal):
  labwire demo --web 9000 --time-scale 60
  labwire status 127.0.0.1:7001
  labwire send 127.0.0.1:7001 set setpoint=12.5
  labwire send 127.0.0.1:7001 start
  labwire wait 127.0.0.1:7001 'temperature<15' --stable 5s
  labwire send 127.0.0.1:7100 get_status
  labwire send 127.0.0.1:7100 send generator set frequency=2000     # the GPIB bench, through the monitor
  labwire expose 127.0.0.1:7004 1 --type dark --wait                # the CCD camera: prints the FITS file
  printf 'set_addr 14\\n?$*IDN?\\n' | nc -N 127.0.0.1 7005              # the bus daemon, as CCDLab's gpib.py
  printf 'get_status\\n' | nc -N 127.0.0.1 7001`)
    .action(async (o: { port: string; web: string; monitor: string; data: string; timeScale: string; logLevel?: string; mqtt?: string }) => {
      const num = (v: string, what: string): number => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`${what} "${v}" is not a port number`);
        return n;
      };
      const timeScale = Number(o.timeScale);
      if (!(timeScale > 0)) throw new CliError(`--time-scale "${o.timeScale}" must be a positive number`);
      const [{ demoLabConfig, DemoTimeScaleError }, { mqttConfigSchema }, { runLab }] = await Promise.all([import('./demo-lab.js'), import('../config/mqtt.js'), import('./up.js')]);
      const opts = { basePort: num(o.port, '--port'), web: num(o.web, '--web'), monitor: num(o.monitor, '--monitor'), timeScale, data: path.resolve(o.data) };
      let config: ReturnType<typeof demoLabConfig>;
      try {
        config = demoLabConfig(opts);
      } catch (err) {
        if (err instanceof DemoTimeScaleError) throw new CliError(err.message);
        throw err;
      }
      if (o.mqtt !== undefined) {
        const login = { ...(process.env.LABWIRE_MQTT_USER ? { username: process.env.LABWIRE_MQTT_USER } : {}), ...(process.env.LABWIRE_MQTT_PASSWORD ? { password: process.env.LABWIRE_MQTT_PASSWORD } : {}) };
        const parsed = mqttConfigSchema.safeParse({ url: o.mqtt, ...login });
        if (!parsed.success) throw new CliError(`--mqtt "${o.mqtt}": ${parsed.error.issues.map((i) => i.message).join('; ')}`);
        config.mqtt = parsed.data;
      }
      await runLab(config, o.logLevel);
    });
}
