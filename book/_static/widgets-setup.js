// Loaded on pages with widgets, before the vendored widget manager (see nb_ipywidgets_js in _config.yml).
(function () {
  // The widget manager finds its font files (Font Awesome icons) next to the URL that RequireJS gives its AMD
  // module "@jupyter-widgets/html-manager/dist/...": by default "@jupyter-widgets/html-manager/dist/" beside the
  // page. Map that prefix onto the vendored folder.
  var managerDir = new URL("vendor/html-manager/", document.currentScript.src).href;
  window.__jupyter_widgets_assets_path__ = managerDir;
  if (typeof window.require === "undefined") {
    // RequireJS (loaded next) takes a global `require` object defined before it as its configuration.
    window.require = {paths: {"@jupyter-widgets/html-manager/dist": managerDir.replace(/\/$/, "")}};
  }

  // ipywidgets typesets widget labels with the MathJax 2 API (MathJax.Hub.Queue); the book uses MathJax 3.
  // Deferred scripts (MathJax) have run by DOMContentLoaded; the widgets render later, on window load.
  document.addEventListener("DOMContentLoaded", function () {
    var MJ = window.MathJax;
    if (!MJ || MJ.Hub) return;
    MJ.Hub = {
      Queue: function (job) {
        var element = job && job[2];
        var ready = (MJ.startup && MJ.startup.promise) || Promise.resolve();
        ready.then(function () {
          if (MJ.typesetPromise) return MJ.typesetPromise(element ? [element] : undefined);
        }).catch(function (err) { console.warn("MathJax typeset of a widget label failed", err); });
      }
    };
  });
})();
