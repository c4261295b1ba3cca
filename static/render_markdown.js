/**
 * Safe Markdown rendering for untrusted article text: marked turns Markdown into HTML with raw
 * HTML escaped (so `<script>` is shown, never parsed), then DOMPurify removes anything outside
 * a small allow-list of tags, attributes and URL schemes. Two layers, because either alone has
 * had bypasses.
 *
 * @module
 */

import { Marked } from "/static/marked.esm.js";
import DOMPurify from "/static/purify.es.mjs";

/** Escapes text for use inside HTML. */
function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const marked = new Marked({
  gfm: true,
  breaks: false,
  renderer: {
    // Raw HTML in the article is text, not markup.
    html({ text }) {
      return escapeHtml(text);
    },
    // Images would load from anywhere (and CSP blocks them anyway): show their alt text.
    image({ text }) {
      return escapeHtml(text);
    },
  },
});

const PURIFY_CONFIG = {
  ALLOWED_TAGS: [
    "a",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "input",
    "li",
    "ol",
    "p",
    "pre",
    "strong",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
  ],
  ALLOWED_ATTR: ["href", "title", "align", "start", "type", "checked", "disabled"],
  // Only web and mail links; `javascript:`, `data:` and the rest lose their href.
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:|#)/i,
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    // Links leave the page without handing it a window reference or a referrer.
    node.setAttribute("rel", "noopener noreferrer nofollow");
    node.setAttribute("target", "_blank");
  }
  if (node.tagName === "INPUT" && node.getAttribute("type") !== "checkbox") node.remove();
});

/**
 * Renders untrusted Markdown into a sanitised DocumentFragment.
 * @param {string} markdown
 * @returns {DocumentFragment}
 */
export function renderMarkdown(markdown) {
  const html = marked.parse(String(markdown), { async: false });
  return DOMPurify.sanitize(html, PURIFY_CONFIG);
}
