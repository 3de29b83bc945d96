// Options that cannot be used are refused when the server or handler is made, naming the option.
import { createHoldpoint, ValidationError } from '@holdpoint/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createMcpHttpHandler, createMcpServer, serveStdio } from '../src/index.js';

const hp = await createHoldpoint({ store: 'memory://' });
afterAll(() => hp.close());

function refusal(make: () => unknown): ValidationError {
  try {
    make();
  } catch (error) {
    if (ValidationError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('the options were accepted');
}

describe('options', () => {
  it('refuses unknown options and bad values, naming the field', () => {
    expect(refusal(() => createMcpServer(hp, { inbox: 'x' } as never)).message).toContain(
      "unknown option 'inbox'",
    );
    expect(refusal(() => createMcpServer(hp, { inboxUrl: 'ftp://x' })).field).toBe(
      'createMcpServer.inboxUrl',
    );
    expect(refusal(() => createMcpServer(hp, { progressInterval: 'often' })).field).toBe(
      'createMcpServer.progressInterval',
    );
    expect(refusal(() => createMcpServer(hp, { progressInterval: 1 })).message).toContain("at least '10ms'");
    expect(refusal(() => createMcpServer(hp, { user: '' })).field).toBe('createMcpServer.user');
    expect(refusal(() => createMcpHttpHandler(hp, { allowedHosts: [] })).field).toBe(
      'createMcpHttpHandler.allowedHosts',
    );
    expect(refusal(() => createMcpHttpHandler(hp, { allowedOrigins: ['not a url'] })).field).toBe(
      'createMcpHttpHandler.allowedOrigins.0',
    );
    expect(refusal(() => createMcpHttpHandler(hp, { maxSessions: 0 })).field).toBe(
      'createMcpHttpHandler.maxSessions',
    );
  });

  it('refuses them in serveStdio before touching stdio', async () => {
    await expect(serveStdio(hp, { elicitation: 'yes' } as never)).rejects.toThrow(
      /createMcpServer\.elicitation/,
    );
  });
});
