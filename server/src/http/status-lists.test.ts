/** `GET /statuslists/:id` in front of a stub (pure routing): a store failure is 503, never a 500. */
import Koa from 'koa';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { statusListRoutes } from './status-lists.ts';

const app = (fail: boolean) => {
  const k = new Koa();
  const failing = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
  const router = statusListRoutes(
    {
      token: (id) => (fail ? failing() : Promise.resolve(id === 7 ? 'a.b.c' : undefined)),
      uris: () => (fail ? failing() : Promise.resolve(['https://as.example/statuslists/7'])),
    },
    5,
  );
  k.use(router.routes());
  return k.callback();
};

describe('the status list routes', () => {
  it('answer the token, 404 for another id, the aggregation', async () => {
    await request(app(false))
      .get('/statuslists/7')
      .expect(200, 'a.b.c')
      .expect('content-type', 'application/statuslist+jwt');
    await request(app(false)).get('/statuslists/8').expect(404);
    await request(app(false))
      .get('/statuslists')
      .expect(200, { status_lists: ['https://as.example/statuslists/7'] });
  });

  it('answer 503 temporarily_unavailable when the store fails, without its message', async () => {
    for (const path of ['/statuslists/7', '/statuslists']) {
      const res = await request(app(true))
        .get(path)
        .expect(503)
        .expect('retry-after', '1')
        .expect('cache-control', 'no-store');
      expect(res.body).toEqual({
        error: 'temporarily_unavailable',
        error_description: 'the status list is unavailable; try again later',
      });
    }
  });
});
