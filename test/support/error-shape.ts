/** The one error shape every 4xx and 5xx answers with (a matcher for toMatchObject). */
export const ERROR_SHAPE = {
  statusCode: expect.any(Number),
  error: expect.any(String),
  code: expect.any(String),
  message: expect.any(String),
  requestId: expect.any(String),
};
