/** The home page: a template literal and an escaper, built to stay cheap per request. */
import type { FastifyReply } from 'fastify';
import type { AssetManifest } from './assets.ts';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const NEEDS_ESCAPE = /[&<>"']/;
const ESCAPABLE = /[&<>"']/g;

export function escapeHtml(text: string): string {
  // Most strings need nothing: skip the replace (and its allocation) for them.
  return NEEDS_ESCAPE.test(text) ? text.replace(ESCAPABLE, (c) => ESCAPES[c] ?? c) : text;
}

export interface PostView {
  uid: string;
  body: string;
  server: string;
  created_at: Date | string;
}

function renderPost(post: PostView): string {
  const when = post.created_at instanceof Date ? post.created_at.toISOString() : String(post.created_at);
  return `<li id="p-${escapeHtml(post.uid)}"><p>${escapeHtml(post.body)}</p><small>${escapeHtml(when)} · ${escapeHtml(post.server)}</small></li>`;
}

/**
 * The page's head: the stylesheet, script and icon by their hashed names (nginx serves
 * them from disk under /assets/), each only when the manifest names it. Rendered once per manifest.
 */
const heads = new WeakMap<AssetManifest, string>();

function renderHead(assets: AssetManifest): string {
  let head = heads.get(assets);
  if (head === undefined) {
    const url = (name: string) => escapeHtml(assets[name]!);
    head =
      '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>foobar.com</title>' +
      (assets['favicon.svg'] ? `<link rel="icon" type="image/svg+xml" href="${url('favicon.svg')}">` : '') +
      (assets['app.css'] ? `<link rel="stylesheet" href="${url('app.css')}">` : '') +
      // Deferred, from 'self' (the CSP allows no inline script); the page works without it.
      (assets['app.js'] ? `<script src="${url('app.js')}" defer></script>` : '') +
      '</head><body>';
    heads.set(assets, head);
  }
  return head;
}

/** Plain HTML forms that POST (form-encoded): each answers with a redirect back to the page. */
const CREDENTIAL_FIELDS =
  '<label>Username <input name="username" required pattern="[a-z0-9_]{3,32}" autocomplete="username"></label>';
const ACCOUNT_FORMS =
  '<section class="account">' +
  `<form method="post" action="/signup"><h2>Sign up</h2>${CREDENTIAL_FIELDS}<label>Password <input type="password" name="password" required minlength="8" maxlength="200" autocomplete="new-password"></label><button>Sign up</button></form>` +
  `<form method="post" action="/signin"><h2>Sign in</h2>${CREDENTIAL_FIELDS}<label>Password <input type="password" name="password" required minlength="8" maxlength="200" autocomplete="current-password"></label><button>Sign in</button></form>` +
  '<form method="post" action="/signout"><h2>Sign out</h2><button>Sign out</button></form>' +
  '</section>';

/** Whether a request came from a plain HTML form: its answer is a redirect back to the page, not JSON. */
export function isFormPost(contentType: string | undefined): boolean {
  return contentType?.startsWith('application/x-www-form-urlencoded') === true;
}

/**
 * A plain HTML form's failure (a wrong password, a taken name, too many attempts, a bad
 * field, the database away): a page that says why, with the way back, under the error's
 * own status. Not JSON: the browser shows what it gets.
 */
export function renderFormError(message: string, assets: AssetManifest = {}): string {
  return `${renderHead(assets)}<h1>foobar.com</h1><p class="error" role="alert">${escapeHtml(message)}</p><p><a href="/">Back to the page</a></p></body></html>`;
}

/** A plain HTML form's answer: back to the home page (303: the browser follows it with a GET). */
export function backToPage(reply: FastifyReply): FastifyReply {
  return reply.code(303).header('location', '/').send();
}

/** `formId` makes a resubmitted form idempotent (the same post id twice is one post). */
// Collapsed reads hand the same rows array to many requests: render its list once.
const renderedLists = new WeakMap<readonly PostView[], string>();

function renderList(posts: readonly PostView[]): string {
  let items = renderedLists.get(posts);
  if (items === undefined) {
    items = '';
    for (const post of posts) items += renderPost(post);
    renderedLists.set(posts, items);
  }
  return items;
}

export function renderHome(
  posts: readonly PostView[],
  server: string,
  formId: string,
  assets: AssetManifest = {},
): string {
  const items = renderList(posts);
  return `${renderHead(assets)}<h1>foobar.com</h1>${ACCOUNT_FORMS}<form method="post" action="/posts"><input type="hidden" name="id" value="${escapeHtml(formId)}"><label>Post <textarea name="body" maxlength="2000" required></textarea></label><button>Post</button><output class="count"></output></form><ul>${items}</ul><footer>served by ${escapeHtml(server)}</footer></body></html>`;
}
