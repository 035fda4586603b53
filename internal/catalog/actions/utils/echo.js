// echo returns its arguments as they came: the identity function of a
// sequence.
function main(params) {
  return params;
}
