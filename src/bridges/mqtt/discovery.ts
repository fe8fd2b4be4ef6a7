/**
 * Home Assistant MQTT discovery (docs/mqtt.md): one retained config message per parameter, under
 * `<discovery prefix>/<component>/labwire_<device>/<param>/config`. Read-only numbers and text are
 * sensors, 0/1 values binary sensors; writable numbers become number entities only when a broker
 * user for Home Assistant is named, since their command topic must carry that user (the ACL pins it).
 */
import type { DescribeDoc, ParamDescription } from '../../wire/types.js';
import { availabilityTopic, bridgeAvailabilityTopic, stateTopic } from './topics.js';

export interface DiscoveryOptions {
  prefix: string;
  user?: string;
}

export interface DiscoveryMessage {
  topic: string;
  payload: string;
}

const safe = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_');

function component(p: ParamDescription, commandable: boolean): 'number' | 'sensor' | 'binary_sensor' {
  if (!p.readonly && commandable && (p.type === 'float' || p.type === 'int')) return 'number';
  if (p.type === 'bool') return 'binary_sensor';
  return 'sensor';
}

export function discoveryMessages(labPrefix: string, device: string, describe: DescribeDoc, options: DiscoveryOptions): DiscoveryMessage[] {
  const out: DiscoveryMessage[] = [];
  const node = `labwire_${safe(labPrefix)}_${safe(device)}`;
  for (const [param, p] of Object.entries(describe.params)) {
    const kind = component(p, options.user !== undefined);
    const config: Record<string, unknown> = {
      name: param,
      unique_id: `${node}_${safe(param)}`,
      state_topic: stateTopic(labPrefix, device, param),
      value_template: kind === 'binary_sensor' ? "{{ 'ON' if value_json.value else 'OFF' }}" : '{{ value_json.value }}',
      availability: [{ topic: bridgeAvailabilityTopic(labPrefix) }, { topic: availabilityTopic(labPrefix, device) }],
      availability_mode: 'all',
      device: { identifiers: [node], name: device, manufacturer: 'labwire', model: describe.title || describe.type },
    };
    if (p.unit) config.unit_of_measurement = p.unit;
    if (kind === 'number') {
      config.command_topic = `${stateTopic(labPrefix, device, param)}/set/${options.user!}`;
      config.mode = 'box';
      if (p.min !== undefined) config.min = p.min;
      if (p.max !== undefined) config.max = p.max;
      config.step = p.type === 'int' ? 1 : 0.01;
    }
    out.push({ topic: `${options.prefix}/${kind}/${node}/${safe(param)}/config`, payload: JSON.stringify(config) });
  }
  return out;
}
