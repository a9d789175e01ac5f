// The JSON API, with the bearer token of this tab's session.
//
// Every answer that is not 2xx becomes an ApiError carrying the status and the contract's error
// code and message ({"error": {"code", "message", "details"}}). A 401 also tells the page
// (the "towns:unauthenticated" event, with the token refused) so that it asks for a token again.

const TOKEN_KEY = "towns.token";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, code, message, details = {}, path = "") {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.path = path;
  }
}

/** Builds "path?k=v&…" from the arguments that are set. */
export function withQuery(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, value);
  }
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}

/** GET (or POST with a JSON body) one API path; resolves to the parsed JSON answer. */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      cache: "no-store",
      credentials: "omit",
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "unreachable", "the service did not answer", {}, path);
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    const apiError = new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || response.statusText || "request failed",
      error.details || {},
      path,
    );
    if (response.status === 401) {
      window.dispatchEvent(new CustomEvent("towns:unauthenticated", { detail: { error: apiError, token } }));
    }
    throw apiError;
  }
  return data;
}
