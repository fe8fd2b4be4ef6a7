/**
 * The lab file's top-level `mqtt:` section (docs/mqtt.md): where the broker is, how the bridge
 * logs in, the topic prefix, and which broker users may command devices with which labwire role.
 * Kept out of lab.ts so that file only names it.
 */
import { z } from 'zod';

/** One topic level: no wildcard, no separator, nothing MQTT forbids. */
const level = z.string().regex(/^[^/#+\s\0]+$/, 'expected one topic level: no "/", "+", "#", white space or NUL');
const prefix = z
  .string()
  .min(1)
  .refine((p) => p.split('/').every((l) => /^[^/#+\s\0]+$/.test(l)), 'expected topic levels separated by "/", without "+", "#", white space, NUL or an empty level, e.g. labwire or lab/room1');

export const mqttConfigSchema = z
  .object({
    /** Broker URL: mqtt://host:port, or mqtts:// for TLS. */
    url: z.string().regex(/^mqtts?:\/\/[^/\s]+$/, 'expected mqtt://host:port or mqtts://host:port'),
    /** The bridge's own broker user. */
    username: z.string().min(1).optional(),
    /** The bridge's password: a file (relative to the lab file), or `${VAR}` from the environment. */
    passwordFile: z.string().optional(),
    password: z.string().optional(),
    /** Trust anchor for mqtts:// (PEM, relative to the lab file); the system's CAs otherwise. */
    ca: z.string().optional(),
    clientId: z.string().min(1).optional(),
    /** Topic prefix: `<prefix>/<device>/<param>`. */
    prefix: prefix.default('labwire'),
    /** MQTT protocol version; 5 lets the bridge ask the broker not to send retained commands at all. */
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(5),
    /**
     * Broker users allowed to command devices, with the labwire role each gets. A user not listed
     * here is refused (and the refusal published on its reply topic).
     */
    users: z.record(level, z.enum(['viewer', 'operator', 'admin'])).default({}),
    /** Messages held while the broker is away (or slow to acknowledge); beyond, the oldest are dropped and counted. */
    queue: z.number().int().positive().default(10_000),
    /** Publishes sent and not yet acknowledged (QoS 1) before further ones wait in the queue. */
    inflight: z.number().int().positive().default(1000),
    /** Home Assistant MQTT discovery. */
    discovery: z
      .union([
        z.boolean(),
        z
          .object({
            prefix: prefix.default('homeassistant'),
            /** The broker user Home Assistant logs in with: its number entities command as that user. */
            user: level.optional(),
          })
          .strict(),
      ])
      .default(false),
  })
  .strict()
  .refine((m) => !(m.password !== undefined && m.passwordFile !== undefined), { message: 'give password or passwordFile, not both', path: ['passwordFile'] })
  .refine((m) => !/^mqtts?:\/\/[^@/]*:[^@/]*@/.test(m.url), { message: 'a password in the URL is refused (it would show in logs): use passwordFile or password: ${VAR}', path: ['url'] });

export type MqttConfig = z.output<typeof mqttConfigSchema>;
