import request from 'supertest';

export const API = '/api/mobile/v1';

/** A small REST client for one user of one app instance. */
export function messagingClient(url: string, token: string) {
  const auth = `Bearer ${token}`;
  return {
    get: (path: string) => request(url).get(`${API}${path}`).set('Authorization', auth),
    post: (path: string, body?: object) => request(url).post(`${API}${path}`).set('Authorization', auth).send(body),
    put: (path: string, body?: object) => request(url).put(`${API}${path}`).set('Authorization', auth).send(body),
    patch: (path: string, body?: object) => request(url).patch(`${API}${path}`).set('Authorization', auth).send(body),
    delete: (path: string) => request(url).delete(`${API}${path}`).set('Authorization', auth),
  };
}

export type MessagingClient = ReturnType<typeof messagingClient>;
