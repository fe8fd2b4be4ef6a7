/** `labwire secop`: a SECoP node for labwire daemons (src/bridges/secop, decision 0027). */
import type { Command } from 'commander';
import { CliError, clientToken, connectionOptions, onShutdown, parseEndpoint, tlsOption, type ConnectFlags } from './common.js';

export function registerSecopCommand(program: Command): void {
  connectionOptions(
    program
      .command('secop')
      .description('serve labwire daemons as a SECoP node (Frappy, NICOS): one module per device, loop or channel')
      .argument('<daemons...>', 'host:port of each labwire daemon')
      .option('--listen <host:port>', 'where the SECoP node listens (SECoP has no fixed port)', '127.0.0.1:10767')
      .option('--name <name>', 'node name, the equipment_id (the lab)', 'lab')
      .option('--discovery', 'answer SECoP UDP discovery on port 10767 of the listen address')
      .option('--trusted', 'the facility network is trusted: allow writes without a token and listening beyond loopback')
      .option('--log-level <level>', 'pino log level'),
  )
    .addHelpText('after', `
SECoP has no authentication of its own. Without --trusted the node listens on loopback only, and
change/do need the node's operator token (--token-file or LABWIRE_TOKEN), which the daemons should
mark "forward" so that their audit names the SECoP peer (user=secop:<address>).

Examples:
  LABWIRE_TOKEN=… labwire secop 127.0.0.1:7001 127.0.0.1:7002 --name cryolab
  labwire secop --listen 0.0.0.0:10767 --trusted 192.168.1.20:7001`)
    .action(async (daemons: string[], o: ConnectFlags & { listen: string; name: string; trusted?: boolean; discovery?: boolean; logLevel?: string }) => {
      const listen = parseEndpoint(o.listen, '--listen');
      const [{ SecopNode }, { createLogger }] = await Promise.all([import('../bridges/secop/index.js'), import('../util/logger.js')]);
      const logger = createLogger({ level: o.logLevel });
      const token = clientToken(o.tokenFile);
      const tls = tlsOption(o);
      const node = new SecopNode({
        name: o.name,
        daemons: daemons.map((d) => parseEndpoint(d, 'daemon')),
        host: listen.host,
        port: listen.port,
        ...(token ? { token } : {}),
        ...(tls ? { tls } : {}),
        trusted: Boolean(o.trusted),
        ...(o.discovery ? { discoveryPort: 10767 } : {}),
        logger,
      });
      try {
        await node.start();
      } catch (err) {
        await node.close();
        throw new CliError((err as Error).message);
      }
      process.stdout.write(`listening ${listen.host}:${node.port}\n`);
      onShutdown(async () => {
        await node.close();
        logger.flush?.();
      });
    });
}
