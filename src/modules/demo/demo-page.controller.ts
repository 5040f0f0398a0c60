import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { SkipThrottle } from '@nestjs/throttler';
import type { Response } from 'express';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppConfig } from '../../config/app-config';
import { Public } from '../../core/auth/auth.decorators';
import { NotFoundError } from '../../core/http/domain-error';

/** Where the page lives, outside the api/mobile/v1 prefix (app.setup.ts excludes it). */
export const DEMO_PATH = 'demo';

/** The page's own files, copied beside the compiled code by nest-cli's assets. */
const PAGE_DIR = join(__dirname, 'page');
const PAGE_FILES = {
  'demo.js': 'text/javascript; charset=utf-8',
  'demo.css': 'text/css; charset=utf-8',
} as const;

/**
 * The page's scripts, styles and sockets are all same-origin, so it runs under a strict policy
 * (helmet's global CSP is off for the Swagger UI's inline scripts; this one is the page's own).
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * The demo page (`DEMO_ENABLED`): a small page on the SDK's browser bundle. Read from disk on each
 * request so a rebuilt client or an edited page shows without a restart.
 */
@ApiExcludeController()
@Public()
@SkipThrottle()
@Controller(DEMO_PATH)
export class DemoPageController {
  constructor(private readonly config: AppConfig) {}

  @Get()
  async page(@Res() res: Response): Promise<void> {
    const html = await readFile(join(PAGE_DIR, 'index.html'), 'utf8');
    // The page offers "sign in as" only where the token route exists, else "paste a token".
    const body = html.replace('data-token-route="false"', `data-token-route="${this.config.demo.tokenRoute}"`);
    this.send(res, 'text/html; charset=utf-8', body);
  }

  @Get('demo.js')
  script(@Res() res: Response): Promise<void> {
    return this.sendFile(res, 'demo.js');
  }

  @Get('demo.css')
  style(@Res() res: Response): Promise<void> {
    return this.sendFile(res, 'demo.css');
  }

  /** The SDK's IIFE browser bundle (global `Tether`), built by `npm run build:client`. */
  @Get('tether.js')
  async bundle(@Res() res: Response): Promise<void> {
    let code: string;
    try {
      code = await readFile(require.resolve('@tether/client/browser'), 'utf8');
    } catch {
      throw new NotFoundError('not_found', 'The SDK browser bundle is not built: run npm run build:client');
    }
    this.send(res, 'text/javascript; charset=utf-8', code);
  }

  private async sendFile(res: Response, name: keyof typeof PAGE_FILES): Promise<void> {
    this.send(res, PAGE_FILES[name], await readFile(join(PAGE_DIR, name), 'utf8'));
  }

  private send(res: Response, type: string, body: string): void {
    res.set({ 'Content-Type': type, 'Cache-Control': 'no-cache', 'Content-Security-Policy': CSP }).send(body);
  }
}
