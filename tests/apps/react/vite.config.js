// Relative base so the output works from any path; the mode (development or production)
// comes from the command line.
export default { base: './', logLevel: 'warn', build: { minify: process.env.NODE_ENV !== 'development' } };
