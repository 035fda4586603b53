// smash nests all the other arguments under the property named by
// `$fieldName`.
function main(params) {
  const field = params.$fieldName;
  if (typeof field !== 'string') {
    return { error: "Expected an argument '$fieldName' of type 'string'." };
  }
  delete params.$fieldName;
  const result = {};
  result[field] = params;
  return result;
}
