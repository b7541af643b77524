// Production defaults; relative base so dist/ works from any path.
export default { base: './', logLevel: 'warn' };
