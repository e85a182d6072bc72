/**
 * The JSON text of a request's upstream body, built and serialised once per request object: a
 * service that retries a call (withRetries) passes the same request to every attempt, so the
 * attempts after the first send the text the first one made. Keyed weakly: the text goes when
 * the request does. Requests are read-only, so the text cannot go stale.
 */
export function memoizeRequestText<R extends object>(
  buildBody: (request: R) => unknown,
): (request: R) => string {
  const texts = new WeakMap<R, string>();
  return (request) => {
    let text = texts.get(request);
    if (text === undefined) {
      text = JSON.stringify(buildBody(request));
      texts.set(request, text);
    }
    return text;
  };
}
