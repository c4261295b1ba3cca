/**
 * The API reference at /docs: fetches /openapi.json and renders every route (parameters,
 * request bodies, responses with their headers and bodies, the events of each stream) and every
 * named schema. It builds DOM nodes from text only (no HTML strings), loads nothing from another
 * origin, and runs under the page's Content-Security-Policy (`script-src 'self'`).
 *
 * @module
 */

const METHODS = ["get", "post", "put", "patch", "delete"];

/**
 * Creates an element with attributes and children (strings become text nodes).
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {...(Node | string | null | undefined)} children
 */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child);
  }
  return node;
}

/**
 * Inline Markdown of the document's descriptions: `code` and **bold**, as text nodes.
 * @param {string} text
 */
function inline(text) {
  const fragment = document.createDocumentFragment();
  for (const part of text.split(/(`[^`]+`|\*\*[^*]+\*\*)/)) {
    if (part.startsWith("`") && part.endsWith("`") && part.length > 1) {
      fragment.append(h("code", {}, part.slice(1, -1)));
    } else if (part.startsWith("**") && part.endsWith("**") && part.length > 3) {
      fragment.append(h("strong", {}, part.slice(2, -2)));
    } else if (part !== "") {
      fragment.append(part);
    }
  }
  return fragment;
}

/**
 * A description: paragraphs split at blank lines.
 * @param {string | undefined} text
 */
function prose(text) {
  if (!text) return null;
  const block = h("div", { class: "prose" });
  for (const paragraph of text.split(/\n\s*\n/)) {
    // A fenced paragraph is an example: kept as written, line by line.
    const fenced = /^```[^\n]*\n([\s\S]*?)\n?```$/.exec(paragraph.trim());
    if (fenced) block.append(h("pre", {}, h("code", {}, fenced[1] ?? "")));
    else block.append(h("p", {}, inline(paragraph.replace(/\s*\n\s*/g, " "))));
  }
  return block;
}

/** @param {string} ref */
const refName = (ref) => ref.slice(ref.lastIndexOf("/") + 1);

/** @param {string} name */
const schemaAnchor = (name) => `schema-${name}`;

/**
 * Follows a `$ref` into the document.
 * @param {Record<string, any>} doc
 * @param {Record<string, any>} value
 */
function resolve(doc, value) {
  if (!value || typeof value.$ref !== "string") return value;
  let target = doc;
  for (const key of value.$ref.slice(2).split("/")) {
    target = target?.[key.replaceAll("~1", "/").replaceAll("~0", "~")];
  }
  return target;
}

/**
 * A short description of a schema's type, with links to named schemas.
 * @param {Record<string, any> | undefined} schema
 * @returns {Node}
 */
function typeOf(schema) {
  if (!schema || Object.keys(schema).length === 0) return document.createTextNode("any");
  if (typeof schema.$ref === "string") {
    const name = refName(schema.$ref);
    return h("a", { href: `#${schemaAnchor(name)}`, class: "type-ref" }, name);
  }
  const out = document.createDocumentFragment();
  const join = (items, separator) =>
    items.forEach((item, i) => {
      if (i > 0) out.append(separator);
      out.append(typeOf(item));
    });
  if ("const" in schema) {
    out.append(h("code", {}, JSON.stringify(schema.const)));
  } else if (Array.isArray(schema.enum)) {
    schema.enum.forEach((value, i) => {
      if (i > 0) out.append(" | ");
      out.append(h("code", {}, JSON.stringify(value)));
    });
  } else if (Array.isArray(schema.oneOf) || Array.isArray(schema.anyOf)) {
    join(schema.oneOf ?? schema.anyOf, " | ");
  } else if (schema.type === "array") {
    out.append("array of ", typeOf(schema.items));
  } else if (Array.isArray(schema.type)) {
    out.append(schema.type.join(" | "));
  } else if (schema.type) {
    out.append(schema.type);
    if (schema.format) out.append(` (${schema.format})`);
    if (schema.contentSchema) out.append(" of JSON: ", typeOf(schema.contentSchema));
  }
  const bounds = [];
  if (schema.minimum !== undefined) bounds.push(`≥ ${schema.minimum}`);
  if (schema.maximum !== undefined) bounds.push(`≤ ${schema.maximum}`);
  if (schema.pattern !== undefined) bounds.push(`pattern ${schema.pattern}`);
  if (bounds.length > 0) out.append(h("span", { class: "muted" }, ` (${bounds.join(", ")})`));
  return out;
}

/**
 * The fields of an object schema as a table, or `null` when it has none.
 * @param {Record<string, any>} schema
 */
function fieldsTable(schema) {
  const properties = Object.entries(schema.properties ?? {});
  if (properties.length === 0) return null;
  const required = new Set(schema.required ?? []);
  return h(
    "table",
    { class: "fields" },
    h("thead", {}, h("tr", {}, h("th", {}, "Field"), h("th", {}, "Type"), h("th", {}, "About"))),
    h(
      "tbody",
      {},
      ...properties.map(([name, property]) =>
        h(
          "tr",
          {},
          h(
            "td",
            {},
            h("code", {}, name),
            required.has(name) ? null : h("span", { class: "muted" }, " optional"),
          ),
          h("td", {}, typeOf(property)),
          h("td", {}, property.description ? inline(property.description) : ""),
        )
      ),
    ),
  );
}

/**
 * The events of an event stream: each event's name and the type of its data.
 * @param {Record<string, any>} doc
 * @param {Record<string, any>} itemSchema
 */
function eventList(doc, itemSchema) {
  const item = resolve(doc, itemSchema);
  const branches = item.oneOf ?? [item];
  return h(
    "ul",
    { class: "events" },
    ...branches.map((branch) => {
      const event = resolve(doc, branch);
      const name = event.properties?.event?.const ?? "message";
      const data = event.properties?.data;
      return h(
        "li",
        { "data-event": name },
        h("code", {}, `event: ${name}`),
        " — data: ",
        typeOf(data?.contentSchema ?? data),
        event.properties?.id && event.required?.includes("id") ? " — with an id" : "",
      );
    }),
  );
}

/**
 * The media types of a body and their schemas.
 * @param {Record<string, any>} doc
 * @param {Record<string, any>} content
 */
function contentList(doc, content) {
  return h(
    "ul",
    { class: "content" },
    ...Object.entries(content).map(([type, media]) =>
      h(
        "li",
        {},
        h("code", {}, type),
        media.schema ? h("span", {}, ": ", typeOf(media.schema)) : null,
        media["x-itemSchema"] ? eventList(doc, media["x-itemSchema"]) : null,
      )
    ),
  );
}

/**
 * @param {Record<string, any>} doc
 * @param {Array<Record<string, any>>} parameters
 */
function parameterTable(doc, parameters) {
  const list = parameters.map((p) => resolve(doc, p));
  return h(
    "table",
    { class: "fields" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "Parameter"),
        h("th", {}, "In"),
        h("th", {}, "Type"),
        h("th", {}, "About"),
      ),
    ),
    h(
      "tbody",
      {},
      ...list.map((p) =>
        h(
          "tr",
          {},
          h(
            "td",
            {},
            h("code", {}, p.name),
            p.required ? null : h("span", { class: "muted" }, " optional"),
          ),
          h("td", {}, p.in),
          h("td", {}, typeOf(p.schema)),
          h("td", {}, p.description ? inline(p.description) : ""),
        )
      ),
    ),
  );
}

/**
 * @param {Record<string, any>} doc
 * @param {Record<string, any>} responses
 */
function responseTable(doc, responses) {
  return h(
    "table",
    { class: "responses" },
    h("thead", {}, h("tr", {}, h("th", {}, "Status"), h("th", {}, "Response"))),
    h(
      "tbody",
      {},
      ...Object.entries(responses).map(([status, value]) => {
        const response = resolve(doc, value);
        const headers = Object.entries(response.headers ?? {});
        return h(
          "tr",
          { "data-status": status },
          h("td", {}, h("code", { class: `status status-${status[0]}` }, status)),
          h(
            "td",
            {},
            inline(response.description ?? ""),
            headers.length > 0
              ? h(
                "p",
                { class: "muted" },
                "Headers: ",
                ...headers.flatMap(([name, header], i) => [
                  i > 0 ? ", " : "",
                  h("code", {}, name),
                  resolve(doc, header).required ? "" : " (optional)",
                ]),
              )
              : null,
            response.content ? contentList(doc, response.content) : null,
          ),
        );
      }),
    ),
  );
}

/**
 * @param {Record<string, any>} doc
 * @param {Record<string, any>} operation
 */
function securityNote(doc, operation) {
  const security = operation.security ?? doc.security ?? [];
  if (security.length === 0) return h("p", { class: "muted" }, "No token needed.");
  const schemes = security.flatMap((requirement) => Object.keys(requirement));
  const parts = [];
  if (schemes.includes("bearerAuth")) parts.push("Authorization: Bearer <API_TOKEN>");
  if (schemes.includes("streamToken")) parts.push("?token=<streamToken>");
  return h(
    "p",
    { class: "muted" },
    "With API_TOKEN set: ",
    ...parts.flatMap((part, i) => [i > 0 ? " or " : "", h("code", {}, part)]),
    ".",
  );
}

/**
 * @param {Record<string, any>} doc
 * @param {string} path
 * @param {string} method
 * @param {Record<string, any>} operation
 */
function operationSection(doc, path, method, operation) {
  return h(
    "section",
    {
      class: "operation",
      id: `op-${operation.operationId}`,
      "data-path": path,
      "data-method": method.toUpperCase(),
    },
    h(
      "h3",
      {},
      h("span", { class: `method method-${method}` }, method.toUpperCase()),
      " ",
      h("code", { class: "path" }, path),
      " ",
      h("span", { class: "summary" }, operation.summary ?? ""),
    ),
    prose(operation.description),
    securityNote(doc, operation),
    operation.parameters?.length
      ? h("div", {}, h("h4", {}, "Parameters"), parameterTable(doc, operation.parameters))
      : null,
    operation.requestBody
      ? h(
        "div",
        {},
        h("h4", {}, operation.requestBody.required ? "Request body" : "Request body (optional)"),
        prose(operation.requestBody.description),
        contentList(doc, operation.requestBody.content),
      )
      : null,
    h("h4", {}, "Responses"),
    responseTable(doc, operation.responses),
  );
}

/**
 * A schema's own type, without the fields listed under it.
 * @param {Record<string, any>} schema
 */
function withoutFields(schema) {
  const { properties: _properties, contentSchema: _content, ...rest } = schema;
  return rest;
}

/**
 * @param {string} name
 * @param {Record<string, any>} schema
 */
function schemaSection(name, schema) {
  const alternatives = schema.oneOf ?? schema.anyOf;
  return h(
    "section",
    { class: "schema", id: schemaAnchor(name), "data-schema": name },
    h(
      "h3",
      {},
      h("code", {}, name),
      " ",
      h("span", { class: "muted" }, alternatives ? "one of" : typeOf(withoutFields(schema))),
    ),
    prose(schema.description),
    fieldsTable(schema),
    schema.additionalProperties && typeof schema.additionalProperties === "object"
      ? h("p", {}, "Other fields: ", typeOf(schema.additionalProperties))
      : null,
    alternatives
      ? h(
        "div",
        {},
        h("p", {}, "One of:"),
        h(
          "ul",
          {},
          ...alternatives.map((alternative) => {
            const inlineObject = !alternative.$ref && alternative.properties;
            return h(
              "li",
              {},
              typeOf(inlineObject ? { type: "object" } : alternative),
              inlineObject ? fieldsTable(alternative) : null,
            );
          }),
        ),
      )
      : null,
  );
}

/** @param {Record<string, any>} doc */
function render(doc) {
  const main = document.getElementById("main");
  const toc = document.getElementById("toc");
  document.getElementById("title").textContent = `${doc.info.title} API reference`;
  document.title = `${doc.info.title} API ${doc.info.version}`;

  const routes = h("section", { id: "routes" });
  const tocRoutes = h("ul", {});
  const tags = (doc.tags ?? []).map((tag) => tag.name);
  const operations = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (operation) operations.push({ path, method, operation });
    }
  }
  for (const tag of tags) {
    const tagged = operations.filter(({ operation }) => (operation.tags ?? [])[0] === tag);
    if (tagged.length === 0) continue;
    const about = doc.tags.find((t) => t.name === tag)?.description;
    routes.append(h("h2", { class: "tag" }, tag), about ? h("p", { class: "muted" }, about) : "");
    tocRoutes.append(h("li", { class: "toc-tag" }, tag));
    for (const { path, method, operation } of tagged) {
      routes.append(operationSection(doc, path, method, operation));
      tocRoutes.append(
        h(
          "li",
          {},
          h(
            "a",
            { href: `#op-${operation.operationId}` },
            h("span", { class: `method method-${method}` }, method.toUpperCase()),
            " ",
            path,
          ),
        ),
      );
    }
  }

  const shared = h(
    "section",
    { id: "shared-responses" },
    h("h2", {}, "Answers on any path"),
    responseTable(doc, {
      "404": doc.components.responses.RouteNotFound,
      "405": doc.components.responses.MethodNotAllowed,
      "204 (OPTIONS)": doc.components.responses.CorsPreflight,
      "403 (OPTIONS)": doc.components.responses.CorsForbidden,
    }),
  );

  const schemas = h("section", { id: "schemas" }, h("h2", {}, "Schemas"));
  const tocSchemas = h("ul", {});
  for (const [name, schema] of Object.entries(doc.components.schemas)) {
    schemas.append(schemaSection(name, schema));
    tocSchemas.append(h("li", {}, h("a", { href: `#${schemaAnchor(name)}` }, name)));
  }

  toc.replaceChildren(
    h("h2", {}, "Routes"),
    tocRoutes,
    h("h2", {}, h("a", { href: "#schemas" }, "Schemas")),
    tocSchemas,
  );
  main.replaceChildren(
    h("p", { class: "version" }, `Version ${doc.info.version} · OpenAPI ${doc.openapi}`),
    prose(doc.info.description),
    routes,
    shared,
    schemas,
  );
  // Anchors in the URL point into what was just rendered.
  if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
}

async function main() {
  try {
    const response = await fetch("/openapi.json", { headers: { accept: "application/json" } });
    if (!response.ok) throw new Error(`/openapi.json answered ${response.status}`);
    render(await response.json());
  } catch (error) {
    const status = document.getElementById("status");
    status.textContent = `The API document could not be loaded: ${error.message}`;
    status.className = "error-text";
  } finally {
    document.documentElement.dataset.ready = "true";
  }
}

main();
