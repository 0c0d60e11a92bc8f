// Debian's chromium, driven by playwright-core, headless, with a fresh
// profile.  Never downloads a browser.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

export const chromiumPath = process.env.SSE_CHROMIUM || '/usr/bin/chromium';

// opts.ignoreHTTPSErrors: accept the self-signed certificate of a test server
export async function launchChromium(opts = {}) {
  if (!fs.existsSync(chromiumPath)) {
    throw new Error(`${chromiumPath} is missing: scripts/deps.sh browser installs it`);
  }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sse-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    timeout: 30000,
    viewport: { width: 900, height: 720 },
    ignoreHTTPSErrors: Boolean(opts.ignoreHTTPSErrors),
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-proxy-server',
    ],
  });
  return {
    context,
    async close() {
      await context.close().catch(() => {});
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}
