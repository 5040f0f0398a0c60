import request from 'supertest';
import type { TestApp } from './test-app';

/** Publishes through the server API (POST /admin/broadcast) as a SERVICE of tenant `tid`; returns the event's offset. */
export async function broadcast(t: TestApp, tid: string, channel: string, event: string, data: object): Promise<string> {
  const admin = await t.token({ sub: 'backend', tid, roles: ['SERVICE'] });
  const res = await request(t.url)
    .post('/api/mobile/v1/admin/broadcast')
    .set('Authorization', `Bearer ${admin}`)
    .send({ channel, event, data });
  expect(res.status).toBe(202);
  return res.body.offset as string;
}
