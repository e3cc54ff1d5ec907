#!/bin/sh
# Regenerates the example's reference media (committed; reelmake itself never runs this).
# Flat-colour PNGs at least 300 px on the shortest side (Kling O3's minimum) and short AAC voice-overs
# spoken by espeak-ng. Needs ffmpeg and espeak-ng.
set -eu
cd "$(dirname "$0")"
png() {  # png OUT SIZE BACKGROUND DRAWBOX-FILTERS
  ffmpeg -v error -y -f lavfi -i "color=c=$3:s=$2:d=1" -frames:v 1 -vf "$4" -pix_fmt rgb24 "$1"
}
png refs/runner.png 400x600 0x1b2a49 \
  "drawbox=x=170:y=90:w=60:h=60:c=0xd9a066:t=fill,drawbox=x=140:y=160:w=120:h=190:c=0xff6a13:t=fill,drawbox=x=150:y=350:w=40:h=170:c=0x2b2b2b:t=fill,drawbox=x=210:y=350:w=40:h=170:c=0x2b2b2b:t=fill"
png refs/sneaker.png 600x400 0xff6a13 \
  "drawbox=x=90:y=170:w=420:h=110:c=white:t=fill,drawbox=x=90:y=280:w=440:h=30:c=0xff9a3c:t=fill,drawbox=x=330:y=120:w=120:h=60:c=white:t=fill"
for market in us:0x3c6e9f de:0x1f1f1f jp:0xbc002d; do
  name=${market%%:*}; colour=${market#*:}
  png "refs/pack-$name.png" 400x400 0xf2efe9 \
    "drawbox=x=100:y=80:w=200:h=240:c=$colour:t=fill,drawbox=x=130:y=250:w=140:h=30:c=0xff6a13:t=fill"
done
vo() {  # vo MARKET VOICE TEXT
  espeak-ng -v "$2" -s 150 -w "audio/vo-$1.wav" "$3"
  ffmpeg -v error -y -i "audio/vo-$1.wav" -ac 1 -ar 24000 -c:a aac -b:a 24k "audio/vo-$1.m4a"
  rm "audio/vo-$1.wav"
}
vo us en-us "Aurora. Made for first light."
vo de de "Aurora. Gemacht für das erste Licht."
vo jp ja "オーロラ。よあけの ために。"
# A shared music bed: two soft sine tones, 8 seconds, looped by the soundtrack.
ffmpeg -v error -y -f lavfi -i "sine=f=220:d=8" -f lavfi -i "sine=f=330:d=8" \
  -filter_complex "amix=inputs=2,volume=0.3,afade=t=in:d=1,afade=t=out:st=7:d=1" -ac 1 -ar 24000 -c:a aac -b:a 24k audio/theme.m4a
