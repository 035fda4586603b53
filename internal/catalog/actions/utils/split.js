// split cuts `payload` at `separator` (a string, or by default line breaks)
// into `lines`.
function main(params) {
  const separator = params.separator || /\r?\n/;
  const lines = params.payload.toString().split(separator);
  const result = { lines: lines, payload: params.payload };
  console.log('split: returning ' + JSON.stringify(result));
  return result;
}
