/**
 * JSON Schemas of the API. Request schemas are enforced by fastify; response schemas document the
 * routes in `/api/openapi.json` (they sit under the route schema's `x-responses`, which fastify does
 * not compile, so no reply is ever reshaped or stripped by a serializer).
 */
import type {} from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    description?: string;
    tags?: string[];
    hide?: boolean;
    /** Response documentation for the OpenAPI document; not compiled into a serializer. */
    'x-responses'?: Record<number, unknown>;
  }
}

const value = { type: ['string', 'number', 'boolean', 'null'] } as const;

export const components = {
  Error: {
    type: 'object',
    required: ['code', 'message'],
    properties: {
      code: { type: 'string', description: 'a labwire error code (RangeError, ReadOnly, …) or an HTTP one (NotFound, BadRequest, Unauthorized, Forbidden)' },
      message: { type: 'string', description: 'what went wrong, for a person' },
      reply: { type: 'string', description: "the device's own error reply line, when there is one" },
    },
  },
  Values: { type: 'object', additionalProperties: value },
  SeriesRef: {
    type: 'object',
    required: ['device', 'name'],
    properties: { device: { type: 'string' }, name: { type: 'string' } },
  },
  Plot: {
    type: 'object',
    required: ['id', 'name', 'values', 'x', 'series'],
    properties: {
      id: { type: 'string' },
      name: { type: 'string' },
      values: { type: 'array', items: { type: 'string' }, description: 'as configured; the first one is the abscissa (usually time)' },
      x: { oneOf: [{ type: 'null' }, { $ref: '#/components/schemas/SeriesRef' }], description: 'the abscissa resolved: null for time' },
      series: { type: 'array', items: { $ref: '#/components/schemas/SeriesRef' }, description: 'the values after the abscissa resolved to a device and a parameter (a parameter name may hold dots: never split it)' },
      xlabel: { type: 'string' },
      ylabel: { type: 'string' },
      xscale: { type: 'string', enum: ['linear', 'log'] },
      yscale: { type: 'string', enum: ['linear', 'log'] },
      width: { type: 'number' },
      height: { type: 'number' },
    },
  },
  Device: {
    type: 'object',
    required: ['name', 'protocol', 'connected', 'values', 'units'],
    properties: {
      name: { type: 'string' },
      protocol: { type: 'string', enum: ['labwire', 'ccdlab'] },
      host: { type: 'string' },
      port: { type: 'integer' },
      description: { type: 'string' },
      connected: { type: 'boolean' },
      since: { type: 'integer', description: 'unix ms of the last connect or disconnect' },
      lastError: { type: 'string' },
      via: {
        type: 'object',
        description: 'a device of a lower monitor: that monitor peer and the device\'s name there (the name is <monitor>/<device>; read these fields, never split it)',
        required: ['monitor', 'device'],
        properties: { monitor: { type: 'string' }, device: { type: 'string' } },
      },
      state: { type: ['string', 'null'] },
      stateText: { type: ['string', 'null'] },
      values: { $ref: '#/components/schemas/Values' },
      ts: { type: 'object', additionalProperties: { type: 'integer' } },
      units: { type: 'object', additionalProperties: { type: 'string' } },
      describe: { type: ['object', 'null'], description: "the device's describe document (labwire peers)" },
      plots: { type: 'array', items: { $ref: '#/components/schemas/Plot' } },
      overview: { type: 'array', items: { type: 'string' }, description: "the parameters the lab file chose for the page's overview (absent: the key values of describe)" },
    },
  },
  LabStatus: {
    type: 'object',
    properties: {
      nconnected: { type: 'integer', description: "CCDLab's field: connections to the monitor's labwire port (= clientsConnected)" },
      clientsConnected: { type: 'integer', description: "connections to the monitor's labwire port" },
      devicesConnected: { type: 'integer', description: 'devices whose link from the monitor is up' },
      clients: { type: 'object', additionalProperties: { type: 'object', properties: { connected: { type: 'boolean' }, values: { $ref: '#/components/schemas/Values' } } } },
    },
  },
  CommandResult: {
    type: 'object',
    required: ['reply', 'kind', 'results'],
    properties: {
      reply: { type: 'string', description: "the device's reply line" },
      kind: { type: 'string', description: 'first word of the reply: ok, status, describe, pong, …' },
      command: { type: 'string', description: 'for ok replies: the command answered' },
      results: { $ref: '#/components/schemas/Values' },
      args: { type: 'array', items: { type: 'string' } },
      json: { description: 'the JSON body of describe and status_json replies' },
    },
  },
  Alarm: {
    type: 'object',
    required: ['id', 'type', 'severity', 'description', 'state', 'since', 'clients', 'value'],
    properties: {
      id: { type: 'string' },
      type: { type: 'string', enum: ['threshold', 'deviation', 'rate', 'disconnected', 'state_error'] },
      severity: { type: 'string', enum: ['info', 'warning', 'critical'] },
      description: { type: 'string' },
      state: { type: 'string', enum: ['ok', 'pending', 'raised', 'acknowledged', 'cleared'] },
      since: { type: 'integer', description: 'unix ms of the last state change' },
      clients: { type: 'array', items: { type: 'string' } },
      watches: { type: 'object', description: 'threshold, deviation, rate: the watched value as client and parameter', required: ['client', 'param'], properties: { client: { type: 'string' }, param: { type: 'string' } } },
      value: { type: ['number', 'null'], description: 'the value judged last (the deviation, the rate, the reading)' },
      raisedAt: { type: 'integer' },
      acknowledgedBy: { type: 'string' },
      acknowledgedAt: { type: 'integer' },
      clearedAt: { type: 'integer' },
    },
  },
  AlarmEntry: {
    type: 'object',
    required: ['t', 'id', 'from', 'to', 'severity', 'message', 'value'],
    properties: {
      t: { type: 'integer' },
      id: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      severity: { type: 'string' },
      message: { type: 'string' },
      value: { type: ['number', 'null'] },
      who: { type: 'string' },
    },
  },
  LogEntry: {
    type: 'object',
    required: ['t', 'source', 'level', 'message'],
    properties: {
      t: { type: 'integer' },
      source: { type: 'string' },
      level: { type: 'string', enum: ['debug', 'info', 'success', 'warning', 'error'] },
      message: { type: 'string' },
    },
  },
  Series: {
    type: 'object',
    properties: {
      id: { type: 'integer' },
      device: { type: 'string' },
      name: { type: 'string' },
      unit: { type: 'string' },
      type: { type: 'string', enum: ['number', 'text'] },
      firstT: { type: 'integer' },
      lastT: { type: 'integer' },
    },
  },
  ImageRecord: {
    type: 'object',
    required: ['id', 't', 'device', 'path', 'frame', 'exptime', 'type', 'object', 'width', 'height', 'bitpix', 'bytes', 'min', 'max', 'mean', 'median'],
    properties: {
      id: { type: 'integer', description: 'the index id, for /api/images/{id}' },
      t: { type: 'integer', description: 'unix ms of the exposure start' },
      device: { type: 'string', description: 'the client name of the daemon that wrote it' },
      path: { type: 'string', description: "absolute path on the daemon's host" },
      frame: { type: ['integer', 'null'] },
      exptime: { type: ['number', 'null'], description: 'exposure time in s' },
      type: { type: 'string', description: "object, bias, dark, flat ('' when unknown)" },
      object: { type: 'string' },
      width: { type: 'integer' },
      height: { type: 'integer' },
      bitpix: { type: 'integer' },
      bytes: { type: ['integer', 'null'], description: 'file size' },
      min: { type: ['number', 'null'] },
      max: { type: ['number', 'null'] },
      mean: { type: ['number', 'null'] },
      median: { type: ['number', 'null'] },
    },
  },
  HeaderCard: {
    type: 'object',
    required: ['key', 'value', 'comment'],
    properties: {
      key: { type: 'string', description: 'keyword, HIERARCH words (LABWIRE CHILLER TEMPERATURE), COMMENT or HISTORY' },
      value: { type: ['string', 'number', 'boolean', 'null'], description: 'typed; CONTINUE strings joined' },
      comment: { type: 'string' },
    },
  },
  History: {
    type: 'object',
    properties: {
      device: { type: 'string' },
      name: { type: 'string' },
      unit: { type: 'string' },
      from: { type: 'integer' },
      to: { type: 'integer' },
      source: { type: 'string', enum: ['raw', '1m', '1h'] },
      binMs: { type: 'integer', description: '0 for raw samples' },
      points: {
        type: 'array',
        items: {
          type: 'object',
          properties: {
            t: { type: 'integer' },
            v: { type: ['number', 'null'], description: 'raw samples' },
            min: { type: 'number' },
            max: { type: 'number' },
            mean: { type: 'number' },
            n: { type: 'integer', description: 'samples in the bin' },
          },
        },
      },
    },
  },
} as const;

export const ref = (name: keyof typeof components): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });
export const errorRef = ref('Error');

/** `from`/`to` take unix milliseconds or an ISO 8601 time. */
const timeParam = { type: 'string', maxLength: 40, description: 'unix milliseconds or an ISO 8601 time' } as const;

export const historyQuery = {
  type: 'object',
  required: ['device', 'name'],
  properties: {
    device: { type: 'string', minLength: 1, maxLength: 200 },
    name: { type: 'string', minLength: 1, maxLength: 200 },
    from: { ...timeParam, description: 'start (default: an hour before `to`); unix ms or ISO 8601' },
    to: { ...timeParam, description: 'end (default: now); unix ms or ISO 8601' },
    maxPoints: { type: 'integer', minimum: 1, maximum: 10000, default: 1000, description: 'at most this many points; longer ranges come back binned (min/max/mean)' },
  },
} as const;

export const csvQuery = {
  type: 'object',
  required: ['device', 'name'],
  properties: {
    device: historyQuery.properties.device,
    name: historyQuery.properties.name,
    from: historyQuery.properties.from,
    to: historyQuery.properties.to,
  },
} as const;

export const messagesQuery = {
  type: 'object',
  properties: {
    since: { ...timeParam, description: 'only messages at or after this time' },
    level: { type: 'string', enum: ['debug', 'info', 'success', 'warning', 'error'], description: 'this level and more severe (debug < info < success < warning < error)' },
    source: { type: 'string', maxLength: 200 },
    limit: { type: 'integer', minimum: 1, maximum: 10000, default: 200 },
  },
} as const;

export const nameParams = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 200, description: 'the device (client) name' } },
} as const;

export const commandBody = {
  type: 'object',
  required: ['line'],
  additionalProperties: false,
  properties: { line: { type: 'string', minLength: 1, maxLength: 65536, description: 'one labwire line, e.g. "set setpoint=20"' } },
} as const;
