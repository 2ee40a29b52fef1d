// Leptos's island_script.js with our file names (versioned, so caches keep them for good): once
// the browser is idle, loads the Wasm and hydrates each <leptos-island> in document order, then
// marks <body data-hydrated="true"> so tests can tell a live page from its HTML.
((js, wasm) => {
  const onHydrate = [];
  async function island(el, mod) {
    const hydrate = mod[el.dataset.component];
    if (!hydrate) {
      console.warn(`no Wasm function for the island ${el.dataset.component}`);
      return;
    }
    const children = onHydrate[onHydrate.length - 1];
    if (children) children();
    await hydrate(el);
  }
  async function walk(node, mod) {
    if (node.nodeType !== Node.ELEMENT_NODE) return;
    const tag = node.tagName.toLowerCase();
    if (tag === "leptos-island") await island(node, mod);
    const slot = tag === "leptos-children";
    if (slot) onHydrate.push(node.$$on_hydrate);
    for (const child of node.children) await walk(child, mod);
    if (slot) onHydrate.pop();
  }
  const idle = window.requestIdleCallback || ((f) => f());
  idle(() =>
    import(js)
      .then((mod) =>
        mod.default({ module_or_path: wasm }).then(() => {
          mod.hydrate();
          return walk(document.body, mod);
        })
      )
      .then(() => document.body.setAttribute("data-hydrated", "true"))
  );
})
