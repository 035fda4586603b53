// hosturl builds the URL that invokes an action (or fires a trigger) of the
// caller's namespace: `path` is NAME or PACKAGE/NAME; `web: true` gives the
// web action URL, with `ext` (.html, .http, .json, .svg or .text) appended.
function main(args) {
  const host = process.env.__OW_API_HOST;
  const ns = process.env.__OW_NAMESPACE;
  const collection = args.trigger === true ? 'triggers' : 'actions';
  const base = args.web === true
    ? `${host}/api/v1/web/${ns}`
    : `${host}/api/v1/namespaces/${ns}/${collection}`;
  const extensions = ['.html', '.http', '.json', '.svg', '.text'];

  if (args.web === true && args.trigger) {
    return { error: 'triggers are not allowed for web actions.' };
  } else if (args.web === true && args.ext) {
    if (!extensions.includes(args.ext)) {
      return { error: 'extension for web action must be one of [".html", ".http", ".json", ".svg", ".text"].' };
    }
  } else if (args.trigger && args.path && args.path.indexOf('/') !== -1) {
    return { error: 'triggers are not allowed in packages.' };
  }

  if (!args.path) {
    return { url: base };
  }
  const path = args.web === true && args.path.indexOf('/') === -1 ? `default/${args.path}` : args.path;
  const ext = args.web === true ? (args.ext || '') : '';
  return { url: `${base}/${path}${ext}` };
}
