// sort sorts `lines` (as JavaScript's default sort does: by their text).
function main(params) {
  const lines = params.lines || [];
  console.log('sort input msg: ' + JSON.stringify(params));
  console.log('sort before: ' + lines);
  lines.sort();
  console.log('sort after: ' + lines);
  return { lines: lines, length: lines.length };
}
