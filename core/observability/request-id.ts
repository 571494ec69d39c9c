import crypto from 'node:crypto';
import type express from 'express';

/**
 * Every HTTP request gets one id, so a user's error report ("ADM_ERR_INTERNAL, requestId …") leads straight to
 * the log line that explains it. An inbound `X-Request-Id` from a proxy or load balancer is kept, so one id
 * follows the request across hops; anything that could forge log structure or flood a field (spaces, quotes,
 * control characters, > 128 characters) is replaced by a fresh UUID instead of being echoed.
 */
export const REQUEST_ID_HEADER = 'X-Request-Id';
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export function requestId(): express.RequestHandler {
  return (req, res, next) => {
    const inbound = req.header(REQUEST_ID_HEADER);
    const id = inbound && SANE_REQUEST_ID.test(inbound) ? inbound : crypto.randomUUID();
    res.locals.requestId = id;
    res.setHeader(REQUEST_ID_HEADER, id);
    next();
  };
}

/** The id `requestId()` gave this request (a fresh one if the middleware did not run, so callers never get undefined). */
export function requestIdOf(res: express.Response): string {
  const id = res.locals.requestId;
  if (typeof id === 'string') return id;
  const fresh = crypto.randomUUID();
  res.locals.requestId = fresh;
  return fresh;
}
