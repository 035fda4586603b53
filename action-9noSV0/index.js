function main(a){return a}
;if (typeof module !== 'undefined' && typeof main === 'function') module.exports[Symbol.for('gust.main')] = main;
