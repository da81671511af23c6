/** /config_dump: the effective config (every default applied), secrets redacted (redact.ts). */
import { version } from '../../version.ts';
import { redact } from '../redact.ts';
import type { AdminHandler } from '../routes.ts';

export const configDump: AdminHandler = (_r, { agent }) => ({
  status: 200,
  body: { version, config: redact(agent.config) },
});
