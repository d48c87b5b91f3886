/** The home page: a template literal and an escaper, built to stay cheap per request. */

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

const HEAD =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>foobar.com</title></head><body>';

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

export function renderHome(posts: readonly PostView[], server: string, formId: string): string {
  const items = renderList(posts);
  return `${HEAD}<h1>foobar.com</h1><form method="post" action="/posts"><input type="hidden" name="id" value="${escapeHtml(formId)}"><textarea name="body" maxlength="2000" required></textarea><button>Post</button></form><ul>${items}</ul><footer>served by ${escapeHtml(server)}</footer></body></html>`;
}
