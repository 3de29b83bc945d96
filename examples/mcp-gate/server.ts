// The MCP server an assistant starts: what `holdpoint mcp --store <url>` runs. Holdpoint's tools on
// stdio over an engine on the store; it stops when the client closes stdin.
//   node --import tsx server.ts <store>
import { createHoldpoint } from '@holdpoint/core';
import { serveStdio } from '@holdpoint/mcp';

const store = process.argv[2] ?? 'sqlite://./.holdpoint/holdpoint.db';
const hp = await createHoldpoint({ store });
const { closed } = await serveStdio(hp, { progressInterval: '1s' });
await closed;
await hp.close();
