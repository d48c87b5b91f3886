/** JSON schemas for every body, parameter and query string; unknown fields are rejected. */

export const POST_ID_PATTERN = '^[A-Za-z0-9._~:-]{1,64}$';

export const createPostSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['body'],
    properties: {
      id: { type: 'string', pattern: POST_ID_PATTERN },
      body: { type: 'string', minLength: 1, maxLength: 2000 },
    },
  },
} as const;

export const postParamsSchema = {
  params: {
    type: 'object',
    additionalProperties: false,
    required: ['id'],
    properties: { id: { type: 'string', pattern: POST_ID_PATTERN } },
  },
} as const;

export const listPostsSchema = {
  querystring: {
    type: 'object',
    additionalProperties: false,
    properties: { limit: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
  },
} as const;

export const credentialsSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['username', 'password'],
    properties: {
      username: { type: 'string', pattern: '^[a-z0-9_]{3,32}$' },
      password: { type: 'string', minLength: 8, maxLength: 200 },
    },
  },
} as const;

/** Responses are serialised by fast-json-stringify from these. */
export const postJson = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    body: { type: 'string' },
    server: { type: 'string' },
    createdAt: { type: 'string' },
  },
} as const;
